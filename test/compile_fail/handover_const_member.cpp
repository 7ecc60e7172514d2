// expect: cluster: a plugin's handover type must not have const or reference members
// The new master fills the handover member by member, which a const member forbids.
#include <cluster/restart_state.hpp>

struct counter {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    int const served;
  };
  static constexpr std::uint32_t handover_version = 1;
};

void hand_over(cluster::restart_state& state) { state.put<counter>({7}); }
