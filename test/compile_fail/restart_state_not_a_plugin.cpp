// expect: cluster: restart_state put<P>() and get<P>() take a plugin type P
// A part is keyed by the plugin's name, and this type has none.
#include <cluster/restart_state.hpp>

#include <cstdint>

struct counter {
  struct handover {
    std::uint64_t served;
  };
  static constexpr std::uint32_t handover_version = 1;
};

void hand_over(cluster::restart_state& state) { state.put<counter>({7}); }
