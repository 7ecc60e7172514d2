// expect: cluster: a plugin's handover type must not contain itself
// A tree of handovers would nest as deep as the bytes say; hand over a flat list instead.
#include <cluster/restart_state.hpp>

#include <vector>

struct node {
  int value;
  std::vector<node> children;
};
struct tree {
  static constexpr cluster::fixed_string name = "tree";
  using handover = node;
  static constexpr std::uint32_t handover_version = 1;
};

void hand_over(cluster::restart_state& state) { state.put<tree>({1, {}}); }
