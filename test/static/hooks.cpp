// SPDX-License-Identifier: BSL-1.0
// The good twins of the hook and plugin-reach compile-fail cases: each configuration compiles,
// and the checks see right hooks as right.
#include <cluster/cluster.hpp>

namespace hooks_test {

struct app {
  void work() {}
};

// hook_event_not_const.cpp: the event taken const.
struct counter {
  static constexpr cluster::fixed_string name = "counter";
  int deaths = 0;
  template <class Master>
  void on(cluster::events::worker_killed const& /*event*/, Master& /*master*/) {
    ++deaths;
  }
};

// hook_master_event_in_worker.cpp: a master event with the master (here the contract itself,
// without a template), a worker event with this_worker.
struct spawn_counter {
  static constexpr cluster::fixed_string name = "spawn counter";
  int spawned = 0;
  int started = 0;
  void on(cluster::events::worker_spawned const& /*event*/, cluster::master_api& /*master*/) {
    ++spawned;
  }
  void on(cluster::events::worker_start const& /*event*/, cluster::this_worker& /*self*/) {
    ++started;
  }
};

// hook_worker_event_in_master.cpp: reopen is delivered in both, and one generic hook takes both.
struct reopener {
  static constexpr cluster::fixed_string name = "reopener";
  int reopened = 0;
  template <class Target>
  void on(cluster::events::reopen const& /*event*/, Target& /*master or worker*/) {
    ++reopened;
  }
};

// A plugin without hooks at all is fine (a signal policy, a setting holder).
struct quiet {
  static constexpr cluster::fixed_string name = "quiet";
};

static_assert(cluster::detail::hook_problem_of<counter>() == cluster::detail::hook_problem::none);
static_assert(cluster::detail::hook_problem_of<spawn_counter>() ==
              cluster::detail::hook_problem::none);
static_assert(cluster::detail::hook_problem_of<reopener>() == cluster::detail::hook_problem::none);
static_assert(cluster::detail::hook_problem_of<quiet>() == cluster::detail::hook_problem::none);

// plugin_reaches_unrequired_plugin.cpp: the reporter requires the counter, so it may reach it.
struct reporter {
  static constexpr cluster::fixed_string name = "reporter";
  using requires_plugins = cluster::type_list<counter>;
  template <class Master>
  void on(cluster::events::worker_killed const& /*event*/, Master& master) {
    [[maybe_unused]] int const n = master.template plugin<counter>().deaths;
  }
};

int run(int argc, char** argv) {
  return cluster::cluster<app>()
      .use(counter{})
      .use(spawn_counter{})
      .use(reopener{})
      .use(quiet{})
      .use(reporter{})
      .do_([](auto& master) {
        // The user's own actions reach every plugin.
        [[maybe_unused]] int const n = master.template plugin<spawn_counter>().spawned;
      })
      .run(argc, argv);
}

}  // namespace hooks_test
