// SPDX-License-Identifier: BSL-1.0
// The stats plugin's figures, read at one moment, and their two renderings: the text report and
// the Prometheus text. Neither Asio nor the master: a renderer is tested on made-up figures.
#pragma once

#include <cluster/events.hpp>
#include <cluster/linkage.hpp>
#include <cluster/signals.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cluster::detail::statistics {

using wall = std::chrono::system_clock;

//=== figures ===//

/// One worker's line.
struct worker_figures {
  unsigned id = 0;
  int pid = 0;
  double uptime_s = 0;
  bool counted = false;  ///< it has a scoreboard slot: the counters below are its own
  std::uint64_t connections_active = 0;
  std::uint64_t connections_total = 0;
  std::uint64_t requests = 0;
};

/// Everything the report and the metrics show, read at one moment.
struct figures {
  int master_pid = 0;
  std::string_view master_state = "active";
  std::string environment;
  double service_start_s = 0;  ///< Unix time
  double master_start_s = 0;   ///< Unix time
  double service_uptime_s = 0;
  double master_uptime_s = 0;
  std::uint64_t workers = 0;
  std::uint64_t deaths = 0;
  std::array<std::uint64_t, events::exit_reason_count> exits{};  ///< by `events::exit_reason`
  std::uint64_t rolling_restarts = 0;
  std::uint64_t master_restarts = 0;
  std::optional<std::array<double, 3>> load;  ///< 1, 5 and 15 minutes; none if unavailable
  std::uint64_t rss = 0;
  std::uint64_t start_rss = 0;
  bool connections = false;  ///< connection counters are kept
  bool requests = false;     ///< request counters are kept
  std::vector<worker_figures> per_worker;
};

/// The name of a `cluster::master_state`, as the report and the metrics spell it.
CLUSTER_DECL std::string_view state_name(master_state s) noexcept;

/// Now, in Unix time (ms).
CLUSTER_DECL std::int64_t wall_ms() noexcept;

/// This process's resident memory in bytes (the second field of /proc/self/statm, in pages), or 0.
CLUSTER_DECL std::uint64_t resident_bytes() noexcept;

/// The system's load average over 1, 5 and 15 minutes; none if unavailable.
CLUSTER_DECL std::optional<std::array<double, 3>> load_average() noexcept;

//=== the text report ===//

/// `3d 04h 05m 06s`, `2m 03s`, `5s`: whole seconds, leading zero units left out.
CLUSTER_DECL std::string duration_text(double seconds);

/// `2024-05-01 12:00:00 UTC`.
CLUSTER_DECL std::string time_text(double unix_seconds);

/// `12.3 MiB`.
CLUSTER_DECL std::string bytes_text(std::uint64_t bytes);

/// The plain-text report: a few aligned lines about the master, then a table of the workers.
CLUSTER_DECL std::string render_report(figures const& f);

//=== Prometheus text exposition format 0.0.4 ===//

/// A label value with `\`, `"` and newlines escaped, as the format requires.
CLUSTER_DECL std::string label_value(std::string_view v);

/// The figures as Prometheus text (exposition format 0.0.4).
CLUSTER_DECL std::string render_prometheus(figures const& f);

}  // namespace cluster::detail::statistics

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/plugins/stats/impl/figures.ipp>
#endif
