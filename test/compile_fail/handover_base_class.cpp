// expect: cluster: a plugin's handover type must not have a base class
// Boost.PFR lists the fields of a plain aggregate only.
#include <cluster/restart_state.hpp>

#include <string>

struct common {
  std::string note;
};
struct counter {
  static constexpr cluster::fixed_string name = "counter";
  struct handover : common {
    int served;
  };
  static constexpr std::uint32_t handover_version = 1;
};

void hand_over(cluster::restart_state& state) { state.put<counter>({{"x"}, 7}); }
