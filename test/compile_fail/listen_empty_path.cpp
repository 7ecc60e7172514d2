// expect: needs a unix socket path, e.g.
// An empty unix socket path.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().listen(""); }
