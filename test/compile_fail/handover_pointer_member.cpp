// expect: cluster: a plugin's handover type must be an aggregate of numbers
// A pointer means nothing in another process: hand over the value it points to.
#include <cluster/restart_state.hpp>

struct counter {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    int* served;
  };
  static constexpr std::uint32_t handover_version = 1;
};

void hand_over(cluster::restart_state& state, int& served) { state.put<counter>({&served}); }
