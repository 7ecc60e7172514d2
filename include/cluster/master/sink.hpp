// SPDX-License-Identifier: BSL-1.0
// What a configuration's master and the master's core know of each other: the sink the core
// reports to, the plan it runs, and a handle that makes and runs a core without its definition.
// Light on purpose: with cluster::compiled, <cluster/master.hpp> includes this and not
// <cluster/master/core.hpp>, so that a program does not parse the core, master restart, systemd
// and the supervisor it does not instantiate.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/crash_loop.hpp>
#include <cluster/events.hpp>
#include <cluster/ipc/worker_setup.hpp>
#include <cluster/linkage.hpp>
#include <cluster/master/api.hpp>
#include <cluster/signals.hpp>

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace cluster {

namespace detail {

/// The position of `Event` in a list of events, or the list's length when it is not there.
template <class Event, class... Events>
constexpr std::size_t index_in(events::list<Events...> /*list*/) noexcept {
  constexpr std::array<bool, sizeof...(Events)> same{std::is_same_v<Event, Events>...};
  std::size_t i = 0;
  while (i < same.size() && !same[i]) ++i;
  return i;
}

template <class List>
inline constexpr std::size_t list_size = 0;
template <class... Events>
inline constexpr std::size_t list_size<events::list<Events...>> = sizeof...(Events);

/// True when `Event` is one of the master's events.
template <class Event>
concept master_event = index_in<Event>(events::master_events{})
< list_size<events::master_events>;

}  // namespace detail

/// What the core needs from the configuration it runs: the plugins' side of every master event,
/// the body of a worker, and the `do_` actions. Implemented once per configuration by
/// `cluster::master<Config>`.
///
/// Every master event goes through one virtual function, `deliver_erased`, with the event's
/// position in `events::master_events`: one vtable entry however many events there are, so a
/// configuration's master compiles to one table of calls rather than a vtable per event.
class master_sink {
 public:
  /// Hands `event` to the configuration's plugins.
  template <detail::master_event Event>
  void deliver(Event const& event) {
    deliver_erased(detail::index_in<Event>(events::master_events{}), &event);
  }
  /// The whole life of a worker, in the child just after fork(); the exit status.
  virtual int run_worker(ipc::worker_setup const& setup) noexcept = 0;
  /// The configuration's `.do_(...)` actions, in order, once the listeners are bound.
  virtual void run_actions() = 0;
  /// The files and directories the configuration's plugins write (each plugin's
  /// `written_paths()`), as given: relative ones are relative to the working directory.
  [[nodiscard]] virtual std::vector<std::string> plugin_paths() const = 0;
  virtual ~master_sink() = default;

 protected:
  master_sink() = default;
  master_sink(master_sink const&) = default;
  master_sink& operator=(master_sink const&) = default;
  master_sink(master_sink&&) noexcept = default;
  master_sink& operator=(master_sink&&) noexcept = default;

  /// `event` points to an object of the `index`th type of `events::master_events`.
  virtual void deliver_erased(std::size_t index, void const* event) = 0;
};

/// What the core runs: one environment's settings, listeners and signal policy, as data.
struct master_plan {
  core_settings settings;
  std::span<endpoint const> listeners;
  std::string_view environment;
  std::span<signal_binding const> signals;
  crash_loop_policy crash_loop{};
};

class master_core;

namespace detail {
/// Deletes a core where its definition is known.
struct core_deleter {
  CLUSTER_DECL void operator()(master_core* core) const noexcept;
};
}  // namespace detail

/// Owns a master core.
using master_core_ptr = std::unique_ptr<master_core, detail::core_deleter>;

/// A master core running `plan` and reporting to `sink`, both of which must outlive it.
[[nodiscard]] CLUSTER_DECL master_core_ptr make_master_core(master_sink& sink, master_plan plan);

/// What plugins call on `core` (see `master_api`).
[[nodiscard]] CLUSTER_DECL detail::master_ops& operations(master_core& core) noexcept;

/// Runs `core` until the cluster shuts down; returns the exit status for `main`.
CLUSTER_DECL int run_master_core(master_core& core);

}  // namespace cluster
