// expect: cluster: this plugin declares no handover type
// put<P>() stores P's handover value, and P says nothing of what it hands over.
#include <cluster/restart_state.hpp>

struct counter {
  static constexpr cluster::fixed_string name = "counter";
  static constexpr std::uint32_t handover_version = 1;
};

void hand_over(cluster::restart_state& state) { state.put<counter>({7, "x", {1, 2}}); }
