// expect: cluster: another policy for the same slot
// Two signal policies in one environment: which one decides what SIGTERM means?
#include <cluster/config.hpp>

struct app {};
struct signals_slot {};
struct graceful_term {
  static constexpr cluster::fixed_string name = "graceful term";
  using policy_slot = signals_slot;
};
struct hard_term {
  static constexpr cluster::fixed_string name = "hard term";
  using policy_slot = signals_slot;
};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .use(graceful_term{})
                                .in<"production">()
                                .use(hard_term{})
                                .listen(80);
}
