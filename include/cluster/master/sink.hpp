// SPDX-License-Identifier: BSL-1.0
// What a configuration's master and the master's core know of each other: the sink the core
// reports to, the plan it runs, and a handle that makes and runs a core without its definition.
// Light on purpose: with cluster::compiled, <cluster/master.hpp> includes this and not
// <cluster/master/core.hpp>, so that a program does not parse the core, master restart, systemd
// and the supervisor it does not instantiate.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/events.hpp>
#include <cluster/ipc/worker_setup.hpp>
#include <cluster/linkage.hpp>
#include <cluster/master/api.hpp>
#include <cluster/signals.hpp>

#include <memory>
#include <span>
#include <string_view>

namespace cluster {

namespace detail {

/// One virtual `deliver` per event of `Events`: what the core calls to reach the plugins of the
/// configuration it runs. Master events are rare, so one indirect call each costs nothing that
/// shows, and it spares compiling the core once per environment.
template <class Event>
class event_sink {
 public:
  virtual void deliver(Event const& event) = 0;
  virtual ~event_sink() = default;

 protected:
  event_sink() = default;
  event_sink(event_sink const&) = default;
  event_sink& operator=(event_sink const&) = default;
  event_sink(event_sink&&) noexcept = default;
  event_sink& operator=(event_sink&&) noexcept = default;
};

template <class List>
class event_sinks;
template <class... Events>
class event_sinks<events::list<Events...>> : public event_sink<Events>... {
 public:
  using event_sink<Events>::deliver...;
};

}  // namespace detail

/// What the core needs from the configuration it runs: the plugins' side of every master event,
/// the body of a worker, and the `do_` actions. Implemented once per configuration by
/// `cluster::master<Config>`.
class master_sink : public detail::event_sinks<events::master_events> {
 public:
  /// The whole life of a worker, in the child just after fork(); the exit status.
  virtual int run_worker(ipc::worker_setup const& setup) noexcept = 0;
  /// The configuration's `.do_(...)` actions, in order, once the listeners are bound.
  virtual void run_actions() = 0;
  ~master_sink() override = default;

 protected:
  master_sink() = default;
  master_sink(master_sink const&) = default;
  master_sink& operator=(master_sink const&) = default;
  master_sink(master_sink&&) noexcept = default;
  master_sink& operator=(master_sink&&) noexcept = default;
};

/// What the core runs: one environment's settings, listeners and signal policy, as data.
struct master_plan {
  core_settings settings;
  std::span<endpoint const> listeners;
  std::string_view environment;
  std::span<signal_binding const> signals;
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
