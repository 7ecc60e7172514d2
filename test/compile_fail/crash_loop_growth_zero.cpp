// expect: cluster: a crash-loop policy's growth must be at least 1
// A crash-loop policy whose waits would shrink to nothing. Its good twin is in control.cpp.
#include <cluster/config.hpp>

struct app {};
struct shrinking : cluster::restart_backoff {
  static constexpr cluster::crash_loop_policy policy{.growth = 0};
};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().use(shrinking{}).listen(0); }
