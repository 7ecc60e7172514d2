// SPDX-License-Identifier: BSL-1.0
// The good twins of the compile-fail cases about the restart state: the same plugins, done right.
#include <cluster/restart_state.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace restart_state_test {

// handover_pointer_member.cpp: the value, not a pointer to it.
struct counter_by_value {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    int served;
  };
  static constexpr std::uint32_t handover_version = 1;
};
void hand_over_value(cluster::restart_state& state, int& served) {
  state.put<counter_by_value>({served});
}

// handover_c_array.cpp: std::array instead of a C array.
struct counter_with_array {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    std::array<int, 4> served;
  };
  static constexpr std::uint32_t handover_version = 1;
};
void hand_over_array(cluster::restart_state& state) { state.put<counter_with_array>({}); }

// handover_const_member.cpp: a plain member.
struct counter_plain {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    int served;
  };
  static constexpr std::uint32_t handover_version = 1;
};
void hand_over_plain(cluster::restart_state& state) { state.put<counter_plain>({7}); }

// handover_base_class.cpp: the base as a member.
struct common {
  std::string note;
};
struct counter_with_member {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    common base;
    int served;
  };
  static constexpr std::uint32_t handover_version = 1;
};
void hand_over_member(cluster::restart_state& state) { state.put<counter_with_member>({{"x"}, 7}); }

// handover_enum_without_fixed_type.cpp: the enum with a fixed underlying type.
enum mode : int { idle, busy };
struct counter_with_mode {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    mode current;
  };
  static constexpr std::uint32_t handover_version = 1;
};
void hand_over_mode(cluster::restart_state& state) { state.put<counter_with_mode>({busy}); }

// handover_contains_itself.cpp: the tree as a flat list of nodes that name their parent.
struct flat_node {
  int value;
  int parent;  // index in the list, -1 for a root
};
struct tree {
  static constexpr cluster::fixed_string name = "tree";
  using handover = std::vector<flat_node>;
  static constexpr std::uint32_t handover_version = 1;
};
void hand_over_tree(cluster::restart_state& state) { state.put<tree>({{1, -1}, {2, 0}}); }

// handover_type_missing.cpp: the plugin says what it hands over.
struct counter_with_handover {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    std::uint64_t served;
    std::string note;
    std::vector<int> ids;
  };
  static constexpr std::uint32_t handover_version = 1;
};
void hand_over_declared(cluster::restart_state& state) {
  state.put<counter_with_handover>({7, "x", {1, 2}});
}

// handover_version_missing.cpp: the plugin declares its handover_version.
struct counter_versioned {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    std::uint64_t served;
  };
  static constexpr std::uint32_t handover_version = 1;
};
std::uint64_t take_over(cluster::restart_state const& state) {
  auto h = state.get<counter_versioned>();
  return h ? h->served : 0;
}

// restart_state_not_a_plugin.cpp: the plugin has a name.
struct counter_named {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    std::uint64_t served;
  };
  static constexpr std::uint32_t handover_version = 1;
};
void hand_over_named(cluster::restart_state& state) { state.put<counter_named>({7}); }

// The documented use, from a plugin's hooks: `ev.state` needs no `template` keyword there.
struct documented {
  static constexpr cluster::fixed_string name = "my plugin";
  struct handover {
    std::uint64_t served;
    std::string note;
    std::vector<int> ids;
  };
  static constexpr std::uint32_t handover_version = 2;
  std::uint64_t served = 0;
  template <class Master>
  void on(cluster::events::restarting const& ev, Master&) {
    ev.state.put<documented>({42, "x", {1, 2}});
  }
  template <class Master>
  void on(cluster::events::restart const& ev, Master&) {
    if (auto h = ev.state.get<documented>()) served = h->served;
  }
};
struct fake_master {};
// What put and get are declared with, under a name without `detail`.
static_assert(std::is_same_v<cluster::handover_of<documented>, documented::handover>);
static_assert(
    std::is_same_v<decltype(std::declval<cluster::restart_state const&>().get<documented>()),
                   std::optional<documented::handover>>);
static_assert(cluster::handles<documented, cluster::events::restarting, fake_master>);
static_assert(cluster::handles<documented, cluster::events::restart, fake_master>);
void documented_use(cluster::restart_state& state) {
  documented plugin;
  fake_master master;
  cluster::dispatch(cluster::events::restarting{state}, master, plugin);
  cluster::dispatch(cluster::events::restart{state}, master, plugin);
}

}  // namespace restart_state_test
