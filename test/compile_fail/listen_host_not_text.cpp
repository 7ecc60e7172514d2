// expect: cluster: .listen() takes a host name or address as text
// The host of .listen(port, host) is text: 127 is not an address.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().listen(3000, 127); }
