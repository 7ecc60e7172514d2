// expect: cluster: a crash-loop policy's first_delay must not be above its max_delay
// A crash-loop policy whose first wait is longer than its cap. Its good twin, a policy with a
// longer cap, is in control.cpp.
#include <cluster/config.hpp>

#include <chrono>

using namespace std::chrono_literals;

struct app {};
struct impatient : cluster::restart_backoff {
  static constexpr cluster::crash_loop_policy policy{.first_delay = 5s, .max_delay = 1s};
};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().use(impatient{}).listen(0); }
