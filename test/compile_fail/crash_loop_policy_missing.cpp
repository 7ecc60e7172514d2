// expect: cluster: a plugin in cluster::crash_loop_slot must declare
// A plugin that claims the crash-loop slot without saying what its policy is. Its good twin is
// in control.cpp.
#include <cluster/config.hpp>

struct app {};
struct no_values {
  static constexpr cluster::fixed_string name = "my crash loop";
  using policy_slot = cluster::crash_loop_slot;
};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().use(no_values{}).listen(0); }
