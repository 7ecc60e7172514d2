// SPDX-License-Identifier: BSL-1.0
// The stats plugin: figures of the master and its workers, as a text report and as Prometheus text.
#pragma once

#include <cluster/plugin.hpp>
#include <cluster/plugins/stats/endpoint.hpp>
#include <cluster/plugins/stats/figures.hpp>
#include <cluster/plugins/stats/state.hpp>
#include <cluster/restart_state.hpp>

#include <boost/asio/steady_timer.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

namespace cluster {

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
  };
  /// The version of `handover`.
  static constexpr std::uint32_t handover_version = 1;

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
  [[nodiscard]] std::string report(master_api const& master) const {
    return detail::statistics::render_report(figures_of(master));
  }

  /// The same figures as Prometheus text, exposition format 0.0.4 (what `GET /metrics` answers).
  [[nodiscard]] std::string prometheus(master_api const& master) const {
    return detail::statistics::render_prometheus(figures_of(master));
  }

  //=== master events ===//

  /// Records the start and binds the metrics endpoint (a restarted master binds it on `restart`,
  /// once its predecessor has released the address).
  void on(events::start const&, master_api& master) {
    namespace st = detail::statistics;
    state_ = std::make_shared<st::state>();
    state_->master_start_ms = st::wall_ms();
    state_->service_start_ms = state_->master_start_ms;
    state_->master_started = st::steady::now();
    state_->start_rss = st::resident_bytes();
    if (metrics.empty()) return;
    auto const address = st::metrics_address::parse(metrics);
    if (!address) {
      throw startup_error("cluster: stats: the metrics address \"" + metrics +
                          "\" is not host:port with a numeric host; write e.g. .metrics = "
                          "\"127.0.0.1:9100\" (port 0: any free port)");
    }
    if (master.restarted()) return;
    if (!serve_metrics(master, *address)) {
      throw startup_error("cluster: stats: cannot serve metrics on " + metrics + ": " +
                          std::strerror(errno) +
                          "; stop what uses that address or choose another .metrics address");
    }
  }

  /// Counts a death the master did not ask for (a crash, an unexpected exit, its own `kill()`).
  void on(events::worker_killed const& ev, master_api&) {
    using reason = events::exit_reason;
    if (ev.reason == reason::crashed || ev.reason == reason::exited ||
        ev.reason == reason::killed || ev.reason == reason::gave_up) {
      ++state_->deaths;
    }
  }

  /// Counts a rolling restart.
  void on(events::rolling_restart_started const&, master_api&) { ++state_->rolling_restarts; }

  /// Hands the service's start time and counts to the new master.
  void on(events::restarting const& ev, master_api&) {
    ev.state.put<stats>(handover{state_->service_start_ms, state_->deaths, state_->rolling_restarts,
                                 state_->master_restarts});
  }

  /// Takes over the predecessor's start time and counts, and binds the metrics endpoint now that
  /// the predecessor, which held the address, has exited.
  void on(events::restart const& ev, master_api& master) {
    std::uint64_t before = 0;
    if (auto h = ev.state.get<stats>()) {
      state_->service_start_ms = h->service_start_ms;
      state_->deaths += h->deaths;
      state_->rolling_restarts += h->rolling_restarts;
      before = h->master_restarts;
    }
    state_->master_restarts = before + 1;
    if (!metrics.empty()) rebind(master, 50);
  }

  /// Closes the metrics endpoint: the master exits next.
  void on(events::close const&, master_api&) {
    if (state_ && state_->stop_endpoint) state_->stop_endpoint();
  }

  //=== worker events ===//

  /// In a new worker: closes the inherited metrics descriptors, so that only the master answers
  /// and a worker never keeps the address from a restarted master. Raw close() calls: the
  /// master's Asio objects must not be touched in the child.
  void on(events::worker_start const&, this_worker&) const {
    if (!state_) return;
    if (state_->listen_fd >= 0) ::close(state_->listen_fd);
    for (int fd : state_->connection_fds) ::close(fd);
  }

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
  [[nodiscard]] detail::statistics::figures figures_of(master_api const& master) const {
    namespace st = detail::statistics;
    st::figures f;
    f.master_pid = ::getpid();
    f.master_state = st::state_name(master.state());
    f.environment = std::string(master.environment());
    f.connections = connections;
    f.requests = requests;
    f.load = st::load_average();
    f.rss = st::resident_bytes();
    f.workers = master.worker_count();
    if (!state_) return f;
    auto const now_ms = st::wall_ms();
    auto const now = st::steady::now();
    f.service_start_s = static_cast<double>(state_->service_start_ms) / 1000;
    f.master_start_s = static_cast<double>(state_->master_start_ms) / 1000;
    f.service_uptime_s = static_cast<double>(now_ms - state_->service_start_ms) / 1000;
    f.master_uptime_s = std::chrono::duration<double>(now - state_->master_started).count();
    f.deaths = state_->deaths;
    f.rolling_restarts = state_->rolling_restarts;
    f.master_restarts = state_->master_restarts;
    f.start_rss = state_->start_rss;
    for (auto const& worker : master.workers()) {
      st::worker_figures w;
      w.pid = worker.pid;
      w.id = worker.id;
      w.uptime_s = std::chrono::duration<double>(now - worker.spawned_at).count();
      if (auto c = master.counters_of(worker.pid)) {
        w.counted = true;
        w.connections_active = c->connections_active;
        w.connections_total = c->connections_total;
        w.requests = c->requests;
      }
      f.per_worker.push_back(w);
    }
    return f;
  }

  /// Binds the endpoint and starts serving it; false with errno set when the address is taken.
  bool serve_metrics(master_api& master, detail::statistics::metrics_address const& address) {
    namespace st = detail::statistics;
    int const fd = st::bind_metrics(address);
    if (fd < 0) return false;
    state_->listen_fd = fd;
    master_api const* m = &master;
    auto body =
        std::make_shared<std::function<std::string()> const>([this, m] { return prometheus(*m); });
    auto ep = std::make_shared<st::endpoint>(master.io(), fd, st::endpoint_protocol(address),
                                             state_, std::move(body));
    ep->start();
    std::fprintf(stderr, "cluster: metrics on %s\n", address.text(st::bound_port(fd)).c_str());
    std::fflush(stderr);
    return true;
  }

  /// After a master restart: binds the endpoint, trying again for a while if the predecessor's
  /// socket is not released yet.
  void rebind(master_api& master, int attempts) {
    namespace st = detail::statistics;
    auto const address = st::metrics_address::parse(metrics);
    if (!address || serve_metrics(master, *address)) return;
    if (errno != EADDRINUSE || attempts <= 1) {
      std::fprintf(stderr,
                   "cluster: stats: cannot serve metrics on %s after the restart: %s; the "
                   "endpoint stays off until the next restart\n",
                   metrics.c_str(), std::strerror(errno));
      return;
    }
    auto timer =
        std::make_shared<boost::asio::steady_timer>(master.io(), std::chrono::milliseconds(100));
    timer->async_wait([this, &master, attempts, timer](boost::system::error_code ec) {
      if (!ec) rebind(master, attempts - 1);
    });
  }
};

}  // namespace cluster
