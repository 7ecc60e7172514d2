// SPDX-License-Identifier: BSL-1.0
// The stats plugin: figures of the master and its workers, as a text report and as Prometheus text.
#pragma once

#include <cluster/linkage.hpp>
#include <cluster/plugin.hpp>
#include <cluster/plugins/stats/http.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cluster {

namespace detail::control {
struct user_command;
}  // namespace detail::control

namespace detail::statistics {
struct figures;
struct metrics_address;
struct state;
}  // namespace detail::statistics

/// Figures of the cluster: master state, start time and uptime, worker count, deaths, rolling and
/// master restarts, load average, the master's memory, each worker's uptime and, when enabled,
/// each worker's connections (open and total) and requests. Read as a text report (`report`,
/// what a REPL's `stats()` prints) or as Prometheus metrics (`prometheus`), optionally served
/// over HTTP by the master (`metrics`).
///
/// Counting is done by the plugin's copy in each worker, in the worker's scoreboard slot (shared
/// memory, no system call, no lock); the master reads the slots when asked. Nothing crosses a
/// process boundary per request. Across a master restart the service's start time and its
/// counts of deaths and restarts carry over to the new master.
///
/// Errors: a `metrics` address that is not `host:port`, or that cannot be bound (in use, not a
/// local address): one line `cluster: stats: ...` and exit status 1, before any worker starts.
///
/// Example: `.use(cluster::stats{.connections = true, .requests = true, .metrics =
/// "127.0.0.1:9100"})`; see docs/plugins/stats.md.
struct stats {
  static constexpr fixed_string name = "stats";

  /// What a master hands to its successor across a restart.
  struct handover {
    std::int64_t service_start_ms;  ///< Unix time, ms
    std::uint64_t deaths;
    std::uint64_t rolling_restarts;
    std::uint64_t master_restarts;
    /// Worker exits by reason, by name ("crashed", "boot timeout"): a reason a later build adds
    /// is kept by name, one it does not know is dropped.
    std::vector<std::pair<std::string, std::uint64_t>> exits;
  };
  /// The version of `handover` (2: `exits`).
  static constexpr std::uint32_t handover_version = 2;

  /// Count each worker's connections, open and total (two relaxed stores per connection).
  bool connections = false;
  /// Count each worker's HTTP requests (one relaxed store per request).
  bool requests = false;
  /// Serve the metrics on `host:port` (numeric address, port 0 for any free port) at
  /// `GET /metrics`, from the master; empty: no endpoint.
  std::string metrics{};
  /// Run-time state, created at start and shared by the plugin's copies; not a setting.
  std::shared_ptr<detail::statistics::state> state_{};

  //=== the figures ===//

  /// The plain-text report (a few aligned lines and a table of the workers).
  [[nodiscard]] CLUSTER_DECL std::string report(master_api const& master) const;

  /// The same figures as Prometheus text, exposition format 0.0.4 (what `GET /metrics` answers).
  [[nodiscard]] CLUSTER_DECL std::string prometheus(master_api const& master) const;

  /// The `stats` command this plugin gives the cli and repl plugins: `report`, from the master.
  /// The command refers to this instance, which must outlive it.
  [[nodiscard]] CLUSTER_DECL detail::control::user_command control_command() const;

  /// Serves `routes` on the metrics endpoint beside `/metrics` (the cli plugin's `/status` and
  /// commands); true when there is an endpoint (`metrics` is set). Called at `start`, before or
  /// after the stats plugin's own.
  CLUSTER_DECL bool add_routes(detail::statistics::http_routes routes);

  //=== master events ===//
  // Compiled with the library's code (impl/stats.ipp): none is per configuration.

  /// Records the start and binds the metrics endpoint (a restarted master binds it on `restart`,
  /// once its predecessor has released the address).
  CLUSTER_DECL void on(events::start const&, master_api& master);

  /// Counts a death the master did not ask for (a crash, an unexpected exit, its own `kill()`).
  CLUSTER_DECL void on(events::worker_killed const& ev, master_api&);

  /// Counts a rolling restart.
  CLUSTER_DECL void on(events::rolling_restart_started const&, master_api&);

  /// Hands the service's start time and counts to the new master.
  CLUSTER_DECL void on(events::restarting const& ev, master_api&);

  /// Takes over the predecessor's start time and counts, and binds the metrics endpoint now that
  /// the predecessor, which held the address, has exited.
  CLUSTER_DECL void on(events::restart const& ev, master_api& master);

  /// Closes the metrics endpoint: the master exits next.
  CLUSTER_DECL void on(events::close const&, master_api&);

  //=== worker events ===//

  /// In a new worker: closes the inherited metrics descriptors, so that only the master answers
  /// and a worker never keeps the address from a restarted master. Raw close() calls: the
  /// master's Asio objects must not be touched in the child.
  CLUSTER_DECL void on(events::worker_start const&, this_worker&) const;

  /// Counts an accepted connection (when `connections`).
  void on(events::client_connection const&, this_worker& w) const noexcept {
    if (!connections) return;
    if (auto* slot = w.slot()) {
      ipc::increment(slot->connections_active);
      ipc::increment(slot->connections_total);
    }
  }

  /// Counts a closed connection (when `connections`).
  void on(events::client_disconnection const&, this_worker& w) const noexcept {
    if (!connections) return;
    if (auto* slot = w.slot()) ipc::decrement(slot->connections_active);
  }

  /// Counts an answered request (when `requests`).
  void on(events::client_request const&, this_worker& w) const noexcept {
    if (!requests) return;
    if (auto* slot = w.slot()) ipc::increment(slot->requests);
  }

 private:
  [[nodiscard]] CLUSTER_DECL detail::statistics::figures figures_of(master_api const& master) const;
  /// Binds the endpoint and starts serving it; false with errno set when the address is taken.
  CLUSTER_DECL bool serve_metrics(master_api& master,
                                  detail::statistics::metrics_address const& address);
  /// After a master restart: binds the endpoint, trying again for a while if the predecessor's
  /// socket is not released yet.
  CLUSTER_DECL void rebind(master_api& master, int attempts);
};

}  // namespace cluster

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/plugins/impl/stats.ipp>
#endif
