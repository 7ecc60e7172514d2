// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/plugins/stats.hpp>'s master side: inline in each program (header-only),
// or compiled once into cluster::compiled (see <cluster/src.hpp>).
#pragma once

#include <cluster/control/command.hpp>
#include <cluster/plugins/stats.hpp>
#include <cluster/plugins/stats/endpoint.hpp>
#include <cluster/plugins/stats/figures.hpp>
#include <cluster/plugins/stats/state.hpp>
#include <cluster/restart_state.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cluster {

CLUSTER_DECL std::string stats::report(master_api const& master) const {
  return detail::statistics::render_report(figures_of(master));
}

CLUSTER_DECL std::string stats::prometheus(master_api const& master) const {
  return detail::statistics::render_prometheus(figures_of(master));
}

CLUSTER_DECL void stats::on(events::start const&, master_api& master) {
  namespace st = detail::statistics;
  if (!state_) state_ = std::make_shared<st::state>();  // add_routes() may have made it
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

CLUSTER_DECL bool stats::add_routes(detail::statistics::http_routes routes) {
  if (!state_) state_ = std::make_shared<detail::statistics::state>();
  state_->routes = std::move(routes);
  return !metrics.empty();
}

CLUSTER_DECL void stats::on(events::worker_killed const& ev, master_api&) {
  using reason = events::exit_reason;
  if (auto const i = static_cast<std::size_t>(ev.reason); i < state_->exits.size())
    ++state_->exits[i];
  if (ev.reason == reason::crashed || ev.reason == reason::exited || ev.reason == reason::killed ||
      ev.reason == reason::gave_up || ev.reason == reason::hung ||
      ev.reason == reason::boot_timeout) {
    ++state_->deaths;
  }
}

CLUSTER_DECL void stats::on(events::rolling_restart_started const&, master_api&) {
  ++state_->rolling_restarts;
}

CLUSTER_DECL void stats::on(events::restarting const& ev, master_api&) {
  handover h{state_->service_start_ms,
             state_->deaths,
             state_->rolling_restarts,
             state_->master_restarts,
             {}};
  for (std::size_t i = 0; i < state_->exits.size(); ++i) {
    if (state_->exits[i] != 0)
      h.exits.emplace_back(events::to_string(static_cast<events::exit_reason>(i)),
                           state_->exits[i]);
  }
  ev.state.put<stats>(h);
}

CLUSTER_DECL void stats::on(events::restart const& ev, master_api& master) {
  std::uint64_t before = 0;
  if (auto h = ev.state.get<stats>()) {
    state_->service_start_ms = h->service_start_ms;
    state_->deaths += h->deaths;
    state_->rolling_restarts += h->rolling_restarts;
    before = h->master_restarts;
    for (auto const& [name, n] : h->exits) {
      for (std::size_t i = 0; i < state_->exits.size(); ++i) {
        if (events::to_string(static_cast<events::exit_reason>(i)) == name) state_->exits[i] += n;
      }
    }
  }
  state_->master_restarts = before + 1;
  if (!metrics.empty()) rebind(master, 50);
}

CLUSTER_DECL void stats::on(events::close const&, master_api&) {
  if (state_ && state_->stop_endpoint) state_->stop_endpoint();
}

CLUSTER_DECL void stats::on(events::worker_start const&, this_worker&) const {
  if (!state_) return;
  if (state_->listen_fd >= 0) ::close(state_->listen_fd);
  for (int fd : state_->connection_fds) ::close(fd);
}

CLUSTER_DECL detail::statistics::figures stats::figures_of(master_api const& master) const {
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
  f.exits = state_->exits;
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

CLUSTER_DECL bool stats::serve_metrics(master_api& master,
                                       detail::statistics::metrics_address const& address) {
  namespace st = detail::statistics;
  int const fd = st::bind_metrics(address);
  if (fd < 0) return false;
  state_->listen_fd = fd;
  master_api const* m = &master;
  auto body =
      std::make_shared<std::function<std::string()> const>([this, m] { return prometheus(*m); });
  st::serve_endpoint(master.io(), fd, address, state_, std::move(body));
  std::fprintf(stderr, "cluster: metrics on %s\n", address.text(st::bound_port(fd)).c_str());
  std::fflush(stderr);
  return true;
}

CLUSTER_DECL void stats::rebind(master_api& master, int attempts) {
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

CLUSTER_DECL detail::control::user_command stats::control_command() const {
  return {"stats", "", "figures of the master and each worker (the stats plugin's report)", 0,
          [this](master_api& master, std::vector<std::string> const& /*words*/) {
            std::string out = report(master);
            while (!out.empty() && out.back() == '\n') out.pop_back();
            return out;
          }};
}

}  // namespace cluster
