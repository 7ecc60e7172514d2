// expect: port_must_be_between_0_and_65535
// A constant out of range: 70000 is no TCP port.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().listen(70000); }
