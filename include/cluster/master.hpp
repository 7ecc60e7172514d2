// SPDX-License-Identifier: BSL-1.0
// The master of one resolved configuration: its plugins, its workers' body and its actions, on top
// of the master's core, which is compiled once per program.
#pragma once

#include <cluster/config/resolve.hpp>
#include <cluster/crash_loop.hpp>
#include <cluster/events.hpp>
#include <cluster/master/api.hpp>
#include <cluster/master/sink.hpp>
#include <cluster/signals.hpp>
#include <cluster/worker.hpp>

#include <boost/hana/basic_tuple.hpp>

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/master/core.hpp>  // header-only: the core's definition, compiled inline
#endif

#include <array>
#include <concepts>
#include <cstddef>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace cluster {

namespace detail {

template <class Config, class Tuple>
struct plugin_masters;
template <class Config, class... Plugins>
struct plugin_masters<Config, boost::hana::basic_tuple<Plugins...>> {
  using type = std::tuple<plugin_master<Config, Plugins>...>;
};

}  // namespace detail

/// The master process of a cluster, for one resolved configuration `Config`.
///
/// Everything that does not depend on the configuration (the worker table, the supervisor, the
/// listeners, signals, restarts, systemd) is `master_core`, compiled once however many
/// environments a program has. What is left here is what does: the plugins each event is
/// delivered to, the body of a worker (the server and the worker's plugins), and the `.do_`
/// actions. Each plugin receives its own `plugin_master<Config, Plugin>`.
template <class Config>
class master final : public master_sink {
  using signal_policy = typename detail::signal_policy_of<Config>::type;
  using plugin_tuple = std::remove_cvref_t<decltype(std::declval<Config&>().plugins())>;
  using views = typename detail::plugin_masters<Config, plugin_tuple>::type;

 public:
  /// A master for `config`, which must outlive it. Nothing happens until `run()`.
  explicit master(Config& config)
      : config_(config),
        core_(make_master_core(
            *this, master_plan{config.settings(), config.listeners(), config.environment(),
                               signal_bindings<signal_policy>,
                               detail::crash_loop_of<Config>::type::policy})),
        views_(make_views(std::make_index_sequence<std::tuple_size_v<views>>{})),
        user_(operations(*core_), config) {}

  master(master const&) = delete;
  master& operator=(master const&) = delete;
  ~master() override = default;

  /// Runs the cluster until it shuts down; returns the exit status for `main`.
  ///
  /// Binds every listener (or adopts those handed over by systemd or a previous master), runs the
  /// user's actions, forks `workers` workers and supervises them. Errors: a listener that cannot
  /// be bound, an unknown user, and the like print one line `cluster: ...` on stderr and return 1
  /// before any worker is forked. Workers that keep dying right after they start stop the master
  /// with a message and status 1.
  ///
  /// With `CLUSTER_PRINT_UNIT=service` (or `socket`) in the environment it starts nothing: it
  /// prints the systemd unit derived from this configuration (see docs/deployment.md) and
  /// returns 0; `CLUSTER_UNIT_NAME` names the unit (default: the executable's file name). With
  /// `CLUSTER_CHECK=1` it checks what start-up would (the user, the working directory, the
  /// listeners' hosts) without binding or forking anything, says "configuration OK" or what is
  /// wrong, and returns 0 or 1.
  int run() { return run_master_core(*core_); }

  /// Sends `event` to every plugin that handles it, in order, each with its own view of the
  /// master. Resolved at compile time: a plugin that ignores the event contributes no code.
  template <class Event>
  void dispatch(Event const& event) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (deliver_to(boost::hana::at_c<I>(config_.plugins()), std::get<I>(views_), event), ...);
    }
    (std::make_index_sequence<std::tuple_size_v<views>>{});
  }

  int run_worker(ipc::worker_setup const& setup) noexcept override { return body_(config_, setup); }

  void run_actions() final { config_.run_actions(user_); }

  [[nodiscard]] std::vector<std::string> plugin_paths() const final {
    std::vector<std::string> out;
    boost::hana::unpack(config_.plugins(), [&](auto const&... ps) { (add_paths(ps, out), ...); });
    return out;
  }

 private:
  using deliver_fn = void (*)(master&, void const*);

  /// True when some plugin of this configuration handles `Event`.
  template <class Event, std::size_t... I>
  static constexpr bool handled(std::index_sequence<I...> /*plugins*/) {
    return (handles<std::remove_reference_t<decltype(boost::hana::at_c<I>(
                        std::declval<Config&>().plugins()))>,
                    Event, std::tuple_element_t<I, views>> ||
            ...);
  }

  /// The call for `Event`, or none when no plugin handles it: such an event costs one load and
  /// one comparison, and no code is compiled for it.
  template <class Event>
  static constexpr deliver_fn entry() {
    if constexpr (handled<Event>(std::make_index_sequence<std::tuple_size_v<views>>{})) {
      return
          [](master& self, void const* event) { self.dispatch(*static_cast<Event const*>(event)); };
    } else {
      return nullptr;
    }
  }

  template <class... Events>
  static constexpr std::array<deliver_fn, sizeof...(Events)> table(
      events::list<Events...> /*events*/) {
    return {entry<Events>()...};
  }

  void deliver_erased(std::size_t index, void const* event) final {
    // One call per master event, in the order of `events::master_events`.
    static constexpr auto deliveries = table(events::master_events{});
    if (deliver_fn const call = deliveries[index]) call(*this, event);
  }

  template <class Plugin>
  static void add_paths(Plugin const& plugin, std::vector<std::string>& out) {
    if constexpr (requires { plugin.written_paths(); }) {
      for (auto const& p : plugin.written_paths()) out.emplace_back(p);
    }
  }

  template <class Plugin, class View, class Event>
  static void deliver_to(Plugin& plugin, View& view, Event const& event) {
    if constexpr (handles<Plugin, Event, View>) plugin.on(event, view);
  }

  template <std::size_t... I>
  views make_views(std::index_sequence<I...>) {
    return views{std::tuple_element_t<I, views>(operations(*core_), config_)...};
  }

  Config& config_;
  master_core_ptr core_;  ///< allocated once: its definition stays out of this header
  views views_;
  plugin_master<Config, void> user_;  ///< what the `.do_` actions receive
  /// The worker's body, called through a pointer on purpose: g++ then instantiates it (and the
  /// server's coroutine frames) where the user's program is compiled, not inside this header,
  /// where its -Wsubobject-linkage warns about servers declared in an anonymous namespace.
  int (*body_)(Config&, ipc::worker_setup const&) noexcept = &detail::run_worker<Config>;
};

namespace detail {

/// What `plugin.run_command(config)` returns (the exit status of a command the program was run
/// with, such as `cli`'s `./server status`), or nothing for a plugin without one.
template <class Plugin, class Config>
std::optional<int> command_of(Plugin const& plugin, Config& config) {
  if constexpr (requires {
                  { plugin.run_command(config) } -> std::same_as<std::optional<int>>;
                }) {
    return plugin.run_command(config);
  } else {
    return std::nullopt;
  }
}

/// Makes `run()` able to start a master (see <cluster/config/resolve.hpp>).
template <class Config>
requires std::is_class_v<Config>
struct master_runner<Config> {
  static constexpr bool available = true;
  static int run(Config& config) {
    // A plugin that makes the program its own control tool answers a command before anything
    // of the master exists: nothing is bound, opened or forked for it.
    std::optional<int> status;
    auto& plugins = config.plugins();
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((status ? void() : void(status = command_of(boost::hana::at_c<I>(plugins), config))), ...);
    }
    (std::make_index_sequence<std::tuple_size_v<
         typename plugin_masters<Config, std::remove_cvref_t<decltype(plugins)>>::type>>{});
    if (status) return *status;
    return master<Config>{config}.run();
  }
};

}  // namespace detail

}  // namespace cluster
