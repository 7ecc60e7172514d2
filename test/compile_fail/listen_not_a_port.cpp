// expect: cluster: .listen() takes a port number
// .listen() takes a port or a path: nullptr is neither.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().listen(nullptr); }
