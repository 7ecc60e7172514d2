// expect: cluster: an enum in a plugin's handover type needs a fixed underlying type
// A value read back could fall outside the range of an enum without a fixed underlying type.
#include <cluster/restart_state.hpp>

enum mode { idle, busy };
struct counter {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    mode current;
  };
  static constexpr std::uint32_t handover_version = 1;
};

void hand_over(cluster::restart_state& state) { state.put<counter>({busy}); }
