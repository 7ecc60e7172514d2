// expect: needs an environment name, e.g.
// .in<"">() names no environment.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().in<"">().listen(80); }
