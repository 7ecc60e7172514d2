// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/plugins/stats/figures.hpp>: inline in each program (header-only), or
// compiled once into cluster::compiled (see <cluster/src.hpp>).
#pragma once

#include <cluster/plugins/stats/figures.hpp>
#include <cluster/text.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cluster::detail::statistics {

/// The name of a `cluster::master_state`, as the report and the metrics spell it.
CLUSTER_DECL std::string_view state_name(master_state s) noexcept {
  switch (s) {
    case master_state::active:
      return "active";
    case master_state::graceful_shutdown:
      return "graceful_shutdown";
    case master_state::hard_shutdown:
      return "hard_shutdown";
  }
  return "active";
}

CLUSTER_DECL std::int64_t wall_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(wall::now().time_since_epoch())
      .count();
}

/// This process's resident memory in bytes (the second field of /proc/self/statm, in pages), or 0.
CLUSTER_DECL std::uint64_t resident_bytes() noexcept {
  int const fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t const n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  std::string_view text(buf, static_cast<std::size_t>(n));
  auto const space = text.find(' ');
  if (space == std::string_view::npos) return 0;
  text.remove_prefix(space + 1);
  std::uint64_t pages = 0;
  std::from_chars(text.data(), text.data() + text.size(), pages);
  long const page = ::sysconf(_SC_PAGESIZE);
  return pages * static_cast<std::uint64_t>(page > 0 ? page : 4096);
}

CLUSTER_DECL std::optional<std::array<double, 3>> load_average() noexcept {
  std::array<double, 3> l{};
  if (::getloadavg(l.data(), 3) != 3) return std::nullopt;
  return l;
}

//=== the text report ===//

/// `3d 04h 05m 06s`, `2m 03s`, `5s`: whole seconds, leading zero units left out.
CLUSTER_DECL std::string duration_text(double seconds) {
  auto s = static_cast<std::uint64_t>(seconds < 0 ? 0 : seconds);
  std::uint64_t const d = s / 86400;
  std::uint64_t const h = s / 3600 % 24;
  std::uint64_t const m = s / 60 % 60;
  s %= 60;
  if (d > 0) return text::format("{}d {:02}h {:02}m {:02}s", d, h, m, s);
  if (h > 0) return text::format("{}h {:02}m {:02}s", h, m, s);
  if (m > 0) return text::format("{}m {:02}s", m, s);
  return text::format("{}s", s);
}

/// `2024-05-01 12:00:00 UTC`.
CLUSTER_DECL std::string time_text(double unix_seconds) {
  std::time_t const t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return text::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/// `12.3 MiB`.
CLUSTER_DECL std::string bytes_text(std::uint64_t bytes) {
  constexpr std::array<char const*, 4> units{"B", "KiB", "MiB", "GiB"};
  auto v = static_cast<double>(bytes);
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < units.size()) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? text::format("{} B", bytes) : text::format("{:.1f} {}", v, units[u]);
}

/// The plain-text report: a few aligned lines about the master, then a table of the workers.
CLUSTER_DECL std::string render_report(figures const& f) {
  std::string out;
  auto line = [&](std::string_view label, std::string const& text) {
    out += text::format("{:<10}{}\n", label, text);
  };
  line("master",
       text::format("pid {}, {}, environment {}", f.master_pid, f.master_state, f.environment));
  line("started",
       text::format("{} (up {})", time_text(f.service_start_s), duration_text(f.service_uptime_s)));
  if (f.master_restarts > 0) {
    line("", text::format("this master since {} (up {})", time_text(f.master_start_s),
                          duration_text(f.master_uptime_s)));
  }
  line("workers", text::format("{} (deaths {}, rolling restarts {}, master restarts {})", f.workers,
                               f.deaths, f.rolling_restarts, f.master_restarts));
  std::string exits;
  for (std::size_t i = 0; i < f.exits.size(); ++i) {
    if (f.exits[i] == 0) continue;
    if (!exits.empty()) exits += ", ";
    exits +=
        text::format("{} {}", events::to_string(static_cast<events::exit_reason>(i)), f.exits[i]);
  }
  line("exits", exits.empty() ? std::string("none") : exits);
  line("load", f.load
                   ? text::format("{:.2f} {:.2f} {:.2f}", (*f.load)[0], (*f.load)[1], (*f.load)[2])
                   : std::string("unknown"));
  line("memory", text::format("{} (at start {})", bytes_text(f.rss), bytes_text(f.start_rss)));
  out += '\n';
  // The table: fixed columns, wide enough for a pid and a long uptime; counters only when kept.
  std::string head = text::format("{:<8}{:<9}{:<16}", "worker", "pid", "uptime");
  if (f.connections) head += text::format("{:>8}{:>13}", "active", "connections");
  if (f.requests) head += text::format("{:>12}", "requests");
  out += head;
  out += '\n';
  std::uint64_t active = 0, total = 0, requests = 0;
  for (auto const& w : f.per_worker) {
    std::string row = text::format("{:<8}{:<9}{:<16}", w.id, w.pid, duration_text(w.uptime_s));
    auto counter = [&](std::uint64_t v, std::size_t width) {
      row += text::align_right(w.counted ? std::to_string(v) : std::string("-"), width);
    };
    if (f.connections) {
      counter(w.connections_active, 8);
      counter(w.connections_total, 13);
    }
    if (f.requests) counter(w.requests, 12);
    // Trailing spaces of a left-aligned last column would only confuse copy and paste.
    while (!row.empty() && row.back() == ' ') row.pop_back();
    out += row;
    out += '\n';
    active += w.connections_active;
    total += w.connections_total;
    requests += w.requests;
  }
  if (f.connections || f.requests) {
    std::string row = text::format("{:<33}", "total");
    if (f.connections) row += text::format("{:>8}{:>13}", active, total);
    if (f.requests) row += text::format("{:>12}", requests);
    out += row;
    out += '\n';
  }
  return out;
}

//=== Prometheus text exposition format 0.0.4 ===//

/// A label value with `\`, `"` and newlines escaped, as the format requires.
CLUSTER_DECL std::string label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

/// Writes metric families: `# HELP` and `# TYPE` once, then the samples.
class exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += text::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  template <class Value>
  void sample(std::string_view name, std::string_view labels, Value v) {
    if (labels.empty()) {
      out_ += text::format("{} {}\n", name, v);
    } else {
      out_ += text::format("{}{{{}}} {}\n", name, labels, v);
    }
  }
  /// A whole family with one unlabelled sample.
  template <class Value>
  void single(std::string_view name, std::string_view type, std::string_view help, Value v) {
    family(name, type, help);
    sample(name, {}, v);
  }
  [[nodiscard]] std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

/// Seconds with millisecond precision, as text (`1714560000.123`).
CLUSTER_DECL std::string seconds_value(double s) { return text::format("{:.3f}", s); }

/// The figures as Prometheus text (exposition format 0.0.4).
CLUSTER_DECL std::string render_prometheus(figures const& f) {
  exposition x;
  x.family("cluster_master_info", "gauge",
           "The master process: its pid and environment (value 1).");
  x.sample("cluster_master_info",
           text::format("pid=\"{}\",environment=\"{}\"", f.master_pid, label_value(f.environment)),
           1);
  x.family("cluster_master_state", "gauge",
           "The master's state: 1 for the current one (active, graceful_shutdown, hard_shutdown).");
  for (std::string_view s : {"active", "graceful_shutdown", "hard_shutdown"})
    x.sample("cluster_master_state", text::format("state=\"{}\"", s), f.master_state == s ? 1 : 0);
  x.single("cluster_start_time_seconds", "gauge",
           "When the service started, in Unix time (kept across master restarts).",
           seconds_value(f.service_start_s));
  x.single("cluster_uptime_seconds", "gauge",
           "Seconds since the service started (kept across master restarts).",
           seconds_value(f.service_uptime_s));
  x.single("cluster_master_start_time_seconds", "gauge",
           "When this master process started, in Unix time.", seconds_value(f.master_start_s));
  x.single("cluster_workers", "gauge", "Worker processes alive now, stopping ones included.",
           f.workers);
  x.single("cluster_worker_deaths_total", "counter",
           "Workers that died without being asked to stop.", f.deaths);
  // Every reason, those with no exit yet too: a rate over a series that appears late misses its
  // first increase.
  x.family("cluster_worker_exits_total", "counter",
           "Worker process exits by reason (crashed, exited, killed, stopped, removed, timed_out, "
           "shutdown, gave_up, hung, boot_timeout), kept across master restarts.");
  for (std::size_t i = 0; i < f.exits.size(); ++i) {
    std::string reason(events::to_string(static_cast<events::exit_reason>(i)));
    std::replace(reason.begin(), reason.end(), ' ', '_');
    x.sample("cluster_worker_exits_total", text::format("reason=\"{}\"", reason), f.exits[i]);
  }
  x.single("cluster_rolling_restarts_total", "counter",
           "Rolling restarts of the workers (each replaces every worker in place).",
           f.rolling_restarts);
  x.single("cluster_master_restarts_total", "counter",
           "Master restarts without downtime this service went through.", f.master_restarts);
  if (f.load) {
    x.family("cluster_load_average", "gauge", "The system load average over a period.");
    constexpr std::array<std::string_view, 3> periods{"1m", "5m", "15m"};
    for (std::size_t i = 0; i < periods.size(); ++i)
      x.sample("cluster_load_average", text::format("period=\"{}\"", periods[i]),
               text::format("{:.2f}", (*f.load)[i]));
  }
  x.single("cluster_master_resident_memory_bytes", "gauge",
           "The master's resident memory now, in bytes.", f.rss);
  x.single("cluster_master_start_resident_memory_bytes", "gauge",
           "The master's resident memory when it started, in bytes.", f.start_rss);

  auto labels = [](worker_figures const& w) {
    return text::format("worker=\"{}\",pid=\"{}\"", w.id, w.pid);
  };
  x.family("cluster_worker_uptime_seconds", "gauge", "Seconds since each worker process started.");
  for (auto const& w : f.per_worker)
    x.sample("cluster_worker_uptime_seconds", labels(w), seconds_value(w.uptime_s));
  // Counters of a worker without a scoreboard slot are unknown: no sample rather than a false 0.
  if (f.connections) {
    x.family("cluster_worker_connections_active", "gauge", "Connections each worker has open now.");
    for (auto const& w : f.per_worker)
      if (w.counted) x.sample("cluster_worker_connections_active", labels(w), w.connections_active);
    x.family("cluster_worker_connections_total", "counter",
             "Connections each worker accepted since it started.");
    for (auto const& w : f.per_worker)
      if (w.counted) x.sample("cluster_worker_connections_total", labels(w), w.connections_total);
  }
  if (f.requests) {
    x.family("cluster_worker_requests_total", "counter",
             "HTTP requests each worker answered since it started.");
    for (auto const& w : f.per_worker)
      if (w.counted) x.sample("cluster_worker_requests_total", labels(w), w.requests);
  }
  return x.take();
}

}  // namespace cluster::detail::statistics
