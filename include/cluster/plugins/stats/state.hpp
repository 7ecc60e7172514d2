// SPDX-License-Identifier: BSL-1.0
// The stats plugin's run-time state: what the master records between events, shared by the
// plugin's copies and its metrics endpoint.
#pragma once

#include <cluster/events.hpp>
#include <cluster/plugins/stats/http.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace cluster::detail::statistics {

using steady = std::chrono::steady_clock;

/// The master-side state of the plugin, shared by its copies (a plugin is copied into the
/// resolved configuration; the master and, after fork(), each worker see the same object).
struct state {
  /// When the service started (Unix time, ms): this master's start, or the first master's when
  /// this one took over through a restart.
  std::int64_t service_start_ms = 0;
  std::int64_t master_start_ms = 0;  ///< when this master process started (Unix time, ms)
  steady::time_point master_started{};
  std::uint64_t deaths = 0;  ///< workers that died without being asked to stop
  /// Worker exits by reason, indexed by `events::exit_reason`.
  std::array<std::uint64_t, events::exit_reason_count> exits{};
  std::uint64_t rolling_restarts = 0;  ///< rolling restarts of the workers
  std::uint64_t master_restarts = 0;   ///< master restarts this service went through
  std::uint64_t start_rss = 0;         ///< the master's resident memory at start (bytes)
  // The metrics endpoint's descriptors, as plain numbers: a worker, forked from the master,
  // closes them without touching the master's Asio objects.
  int listen_fd = -1;
  std::vector<int> connection_fds;
  std::function<void()> stop_endpoint;  ///< closes the endpoint (master only)
  /// Routes another plugin added to the endpoint (the cli plugin's `/status` and commands).
  http_routes routes;
};

}  // namespace cluster::detail::statistics
