// expect: cluster: this plugin declares no handover_version
// Without a version, a new build could not tell its own layout from an older one.
#include <cluster/restart_state.hpp>

#include <cstdint>

struct counter {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    std::uint64_t served;
  };
};

std::uint64_t take_over(cluster::restart_state const& state) {
  auto h = state.get<counter>();
  return h ? h->served : 0;
}
