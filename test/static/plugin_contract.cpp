// SPDX-License-Identifier: BSL-1.0
// Every bundled plugin against the master archetype: each hook compiles with the contract
// (cluster::master_api, get<"key">(), plugin<P>()) and nothing more of the master.
#include <cluster/config/hooks.hpp>
#include <cluster/plugin.hpp>
#include <cluster/plugins/cli.hpp>
#include <cluster/plugins/debug.hpp>
#include <cluster/plugins/logger.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/plugins/stats.hpp>
#include <cluster/signals.hpp>

#include "../../example/death_alarm.hpp"

namespace contract_test {

static_assert(cluster::master_like<cluster::master_archetype>);

/// Some event of type `Event`; declared only: this file is compiled, never linked or run.
template <class Event>
Event const& some();

template <class Plugin, class... Events>
void deliver_all(Plugin& plugin, cluster::master_archetype& master,
                 cluster::events::list<Events...> /*events*/) {
  (cluster::dispatch(some<Events>(), master, plugin), ...);
}

// Compiled, never called: instantiating every hook of every plugin with the archetype is the test.
template <class Plugin>
[[maybe_unused]] void check(Plugin plugin) {
  cluster::master_archetype master;
  deliver_all(plugin, master, cluster::events::master_events{});
  static_assert(cluster::detail::hook_problem_of<Plugin>() == cluster::detail::hook_problem::none);
}

[[maybe_unused]] void all() {
  check(cluster::cli{});
  check(cluster::cli{}.command<"hello">("a command of the program's own",
                                        [](cluster::master_api&) { return "hello"; }));
  check(cluster::debug{});
  check(cluster::logger{});
  check(cluster::pidfiles{});
  check(cluster::stats{});
  check(death_alarm{});
  check(cluster::default_signals{});
  check(cluster::container_signals{});
}

}  // namespace contract_test
