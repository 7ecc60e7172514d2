// expect: cluster: a plugin's handover type must be an aggregate of numbers
// A C array member cannot be listed field by field; std::array can.
#include <cluster/restart_state.hpp>

struct counter {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    int served[4];
  };
  static constexpr std::uint32_t handover_version = 1;
};

void hand_over(cluster::restart_state& state) { state.put<counter>({}); }
