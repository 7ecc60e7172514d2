// expect: cluster: another policy for the same slot
// Two different policies that fill one slot (as the signal policy does) in one environment.
#include <cluster/config.hpp>

struct app {};
struct signal_slot {};
struct default_signals_like {
  static constexpr cluster::fixed_string name = "signals";
  using policy_slot = signal_slot;
};
struct container_signals_like {
  static constexpr cluster::fixed_string name = "container signals";
  using policy_slot = signal_slot;
};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .use(default_signals_like{})
                                .in<"production">()
                                .use(container_signals_like{})
                                .listen(80);
}
