// SPDX-License-Identifier: BSL-1.0
// The stats plugin: figures of the master and its workers, as a text report and as Prometheus text.
#pragma once

#include <cluster/plugin.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cluster::detail::statistics {

using steady = std::chrono::steady_clock;
using wall = std::chrono::system_clock;

/// A live worker process as the master saw it start.
struct worker_record {
  unsigned id = 0;
  int pid = 0;
  steady::time_point spawned{};
};

/// The master-side state of the plugin, shared by its copies (a plugin is copied into the
/// resolved configuration; the master and, after fork(), each worker see the same object).
struct state {
  /// When the service started (Unix time, ms): this master's start, or the first master's when
  /// this one took over through a restart.
  std::int64_t service_start_ms = 0;
  std::int64_t master_start_ms = 0;   ///< when this master process started (Unix time, ms)
  steady::time_point master_started{};
  std::uint64_t deaths = 0;            ///< workers that died without being asked to stop
  std::uint64_t rolling_restarts = 0;  ///< rolling restarts of the workers
  std::uint64_t master_restarts = 0;   ///< master restarts this service went through
  std::uint64_t start_rss = 0;         ///< the master's resident memory at start (bytes)
  std::vector<worker_record> workers;  ///< live workers, in the order they were spawned
  int counted_death = 0;  ///< the pid of the last death counted, until `worker_removed` says more
  // The metrics endpoint's descriptors, as plain numbers: a worker, forked from the master,
  // closes them without touching the master's Asio objects.
  int listen_fd = -1;
  std::vector<int> connection_fds;
  std::function<void()> stop_endpoint;  ///< closes the endpoint (master only)
};

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
  std::uint64_t rolling_restarts = 0;
  std::uint64_t master_restarts = 0;
  std::optional<std::array<double, 3>> load;  ///< 1, 5 and 15 minutes; none if unavailable
  std::uint64_t rss = 0;
  std::uint64_t start_rss = 0;
  bool connections = false;  ///< connection counters are kept
  bool requests = false;     ///< request counters are kept
  std::vector<worker_figures> per_worker;
};

inline std::string_view state_name(master_state s) noexcept {
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

inline std::int64_t wall_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(wall::now().time_since_epoch())
      .count();
}

/// This process's resident memory in bytes (the second field of /proc/self/statm, in pages), or 0.
inline std::uint64_t resident_bytes() noexcept {
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

inline std::optional<std::array<double, 3>> load_average() noexcept {
  std::array<double, 3> l{};
  if (::getloadavg(l.data(), 3) != 3) return std::nullopt;
  return l;
}

//=== the text report ===//

/// `3d 04h 05m 06s`, `2m 03s`, `5s`: whole seconds, leading zero units left out.
inline std::string duration_text(double seconds) {
  auto s = static_cast<std::uint64_t>(seconds < 0 ? 0 : seconds);
  std::uint64_t const d = s / 86400;
  std::uint64_t const h = s / 3600 % 24;
  std::uint64_t const m = s / 60 % 60;
  s %= 60;
  if (d > 0) return fmt::format("{}d {:02}h {:02}m {:02}s", d, h, m, s);
  if (h > 0) return fmt::format("{}h {:02}m {:02}s", h, m, s);
  if (m > 0) return fmt::format("{}m {:02}s", m, s);
  return fmt::format("{}s", s);
}

/// `2024-05-01 12:00:00 UTC`.
inline std::string time_text(double unix_seconds) {
  std::time_t const t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/// `12.3 MiB`.
inline std::string bytes_text(std::uint64_t bytes) {
  constexpr std::array<char const*, 4> units{"B", "KiB", "MiB", "GiB"};
  auto v = static_cast<double>(bytes);
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < units.size()) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

/// The plain-text report: a few aligned lines about the master, then a table of the workers.
inline std::string render_report(figures const& f) {
  std::string out;
  auto line = [&](std::string_view label, std::string const& text) {
    out += fmt::format("{:<10}{}\n", label, text);
  };
  line("master", fmt::format("pid {}, {}, environment {}", f.master_pid, f.master_state,
                             f.environment));
  line("started", fmt::format("{} (up {})", time_text(f.service_start_s),
                              duration_text(f.service_uptime_s)));
  if (f.master_restarts > 0) {
    line("", fmt::format("this master since {} (up {})", time_text(f.master_start_s),
                         duration_text(f.master_uptime_s)));
  }
  line("workers", fmt::format("{} (deaths {}, rolling restarts {}, master restarts {})", f.workers,
                              f.deaths, f.rolling_restarts, f.master_restarts));
  line("load", f.load ? fmt::format("{:.2f} {:.2f} {:.2f}", (*f.load)[0], (*f.load)[1],
                                    (*f.load)[2])
                      : std::string("unknown"));
  line("memory", fmt::format("{} (at start {})", bytes_text(f.rss), bytes_text(f.start_rss)));
  out += '\n';
  // The table: fixed columns, wide enough for a pid and a long uptime; counters only when kept.
  std::string head = fmt::format("{:<8}{:<9}{:<16}", "worker", "pid", "uptime");
  if (f.connections) head += fmt::format("{:>8}{:>13}", "active", "connections");
  if (f.requests) head += fmt::format("{:>12}", "requests");
  out += head;
  out += '\n';
  std::uint64_t active = 0, total = 0, requests = 0;
  for (auto const& w : f.per_worker) {
    std::string row = fmt::format("{:<8}{:<9}{:<16}", w.id, w.pid, duration_text(w.uptime_s));
    auto counter = [&](std::uint64_t v, int width) {
      row += w.counted ? fmt::format("{:>{}}", v, width) : fmt::format("{:>{}}", "-", width);
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
    std::string row = fmt::format("{:<33}", "total");
    if (f.connections) row += fmt::format("{:>8}{:>13}", active, total);
    if (f.requests) row += fmt::format("{:>12}", requests);
    out += row;
    out += '\n';
  }
  return out;
}

//=== Prometheus text exposition format 0.0.4 ===//

/// A label value with `\`, `"` and newlines escaped, as the format requires.
inline std::string label_value(std::string_view v) {
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
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  template <class Value>
  void sample(std::string_view name, std::string_view labels, Value v) {
    if (labels.empty()) {
      out_ += fmt::format("{} {}\n", name, v);
    } else {
      out_ += fmt::format("{}{{{}}} {}\n", name, labels, v);
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
inline std::string seconds_value(double s) { return fmt::format("{:.3f}", s); }

/// The figures as Prometheus text (exposition format 0.0.4).
inline std::string render_prometheus(figures const& f) {
  exposition x;
  x.family("cluster_master_info", "gauge", "The master process: its pid and environment (value 1).");
  x.sample("cluster_master_info",
           fmt::format("pid=\"{}\",environment=\"{}\"", f.master_pid, label_value(f.environment)),
           1);
  x.family("cluster_master_state", "gauge",
           "The master's state: 1 for the current one (active, graceful_shutdown, hard_shutdown).");
  for (std::string_view s : {"active", "graceful_shutdown", "hard_shutdown"})
    x.sample("cluster_master_state", fmt::format("state=\"{}\"", s), f.master_state == s ? 1 : 0);
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
  x.single("cluster_rolling_restarts_total", "counter",
           "Rolling restarts of the workers (each replaces every worker in place).",
           f.rolling_restarts);
  x.single("cluster_master_restarts_total", "counter",
           "Master restarts without downtime this service went through.", f.master_restarts);
  if (f.load) {
    x.family("cluster_load_average", "gauge", "The system load average over a period.");
    constexpr std::array<std::string_view, 3> periods{"1m", "5m", "15m"};
    for (std::size_t i = 0; i < periods.size(); ++i)
      x.sample("cluster_load_average", fmt::format("period=\"{}\"", periods[i]),
               fmt::format("{:.2f}", (*f.load)[i]));
  }
  x.single("cluster_master_resident_memory_bytes", "gauge",
           "The master's resident memory now, in bytes.", f.rss);
  x.single("cluster_master_start_resident_memory_bytes", "gauge",
           "The master's resident memory when it started, in bytes.", f.start_rss);

  auto labels = [](worker_figures const& w) {
    return fmt::format("worker=\"{}\",pid=\"{}\"", w.id, w.pid);
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

//=== the metrics endpoint ===//

/// `host:port` split and checked: a numeric IPv4 or IPv6 address (`[::1]:9100`) and a port.
struct metrics_address {
  boost::asio::ip::address host;
  std::uint16_t port = 0;

  static std::optional<metrics_address> parse(std::string_view text) {
    auto const colon = text.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == text.size()) return std::nullopt;
    std::string_view host = text.substr(0, colon);
    std::string_view const port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
      return std::nullopt;  // an IPv6 address needs its brackets
    }
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc{} || end != port.data() + port.size() || p > 65535) return std::nullopt;
    boost::system::error_code aec;
    auto const addr = boost::asio::ip::make_address(std::string(host), aec);
    if (aec) return std::nullopt;
    return metrics_address{addr, static_cast<std::uint16_t>(p)};
  }

  /// `127.0.0.1:9100`, `[::1]:9100`.
  [[nodiscard]] std::string text(std::uint16_t actual_port) const {
    return host.is_v6() ? fmt::format("[{}]:{}", host.to_string(), actual_port)
                        : fmt::format("{}:{}", host.to_string(), actual_port);
  }
};

/// A listening socket for `a`, close-on-exec (a successor master must not inherit it) and
/// non-blocking (Asio accepts on it); or -1 with errno set.
inline int bind_metrics(metrics_address const& a) {
  boost::asio::ip::tcp::endpoint const ep(a.host, a.port);
  int const fd = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  // Without it, the connections of the previous master's last scrapes (in TIME_WAIT) would keep a
  // restarted master from binding the same address.
  int const one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0 || ::listen(fd, 64) != 0) {
    int const saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

/// The protocol of `a` (IPv4 or IPv6), for the acceptor that adopts the socket.
inline boost::asio::ip::tcp endpoint_protocol(metrics_address const& a) {
  return a.host.is_v6() ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4();
}

/// The port `fd` is bound to.
inline std::uint16_t bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6 const&>(ss).sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in const&>(ss).sin_port);
}

/// Limits of one scrape: a client that sends too much, or too little, is cut off.
inline constexpr std::size_t max_request_bytes = 8192;
inline constexpr std::chrono::seconds scrape_time_limit{2};

/// What the endpoint serves: the metrics text, made at each scrape.
using body_source = std::shared_ptr<std::function<std::string()> const>;

/// The answer to one request head (`GET /metrics HTTP/1.1 ...`).
inline std::string http_answer(std::string_view head, std::function<std::string()> const& body) {
  auto reply = [](std::string_view status, std::string_view type, std::string const& text) {
    return fmt::format(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        status, type, text.size(), text);
  };
  std::string_view const line = head.substr(0, head.find("\r\n"));
  auto const sp1 = line.find(' ');
  auto const sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/1."))
    return reply("400 Bad Request", "text/plain", "bad request\n");
  std::string_view const method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (target != "/metrics") return reply("404 Not Found", "text/plain", "not found; try /metrics\n");
  if (method != "GET" && method != "HEAD")
    return reply("405 Method Not Allowed", "text/plain", "GET /metrics\n");
  std::string text = reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", body());
  if (method == "HEAD") text.erase(text.find("\r\n\r\n") + 4);
  return text;
}

/// One scrape: read the request head (bounded), answer, close. Owned by its pending operations.
class scrape : public std::enable_shared_from_this<scrape> {
 public:
  scrape(boost::asio::ip::tcp::socket sock, std::shared_ptr<state> st, body_source body)
      : sock_(std::move(sock)),
        timer_(sock_.get_executor()),
        state_(std::move(st)),
        body_(std::move(body)) {}

  void start() {
    int const fd = sock_.native_handle();
    // Asio's accept() does not set close-on-exec: a master restart must not hand this on.
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    state_->connection_fds.push_back(fd);
    timer_.expires_after(scrape_time_limit);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->finish();
    });
    read();
  }

 private:
  void read() {
    sock_.async_read_some(boost::asio::buffer(chunk_),
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                            self->on_read(ec, n);
                          });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    if (ec) {
      finish();
      return;
    }
    if (answered_) {  // draining what the client still sends, until it closes
      read();
      return;
    }
    head_.append(chunk_.data(), n);
    if (head_.find("\r\n\r\n") != std::string::npos || head_.size() >= max_request_bytes) {
      answer();
    } else {
      read();
    }
  }

  void answer() {
    answered_ = true;
    out_ = http_answer(head_, *body_);
    head_.clear();
    boost::asio::async_write(sock_, boost::asio::buffer(out_),
                             [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                               if (ec) {
                                 self->finish();
                                 return;
                               }
                               // Closing with unread input would reset the connection, and the
                               // client could lose the answer: say we are done, then read until
                               // the client closes (within the time limit).
                               boost::system::error_code ignored;
                               self->sock_.shutdown(boost::asio::socket_base::shutdown_send,
                                                    ignored);
                               self->read();
                             });
  }

  void finish() {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    auto& fds = state_->connection_fds;
    fds.erase(std::remove(fds.begin(), fds.end(), sock_.native_handle()), fds.end());
    boost::system::error_code ignored;
    sock_.close(ignored);
  }

  boost::asio::ip::tcp::socket sock_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<state> state_;
  body_source body_;
  std::array<char, 2048> chunk_{};
  std::string head_;
  std::string out_;
  bool answered_ = false;
  bool done_ = false;
};

/// The metrics listener on the master's event loop. Its pending operations own it, so that it
/// goes with the master's `io_context`, whatever ends it.
class endpoint : public std::enable_shared_from_this<endpoint> {
 public:
  endpoint(boost::asio::io_context& io, int fd, boost::asio::ip::tcp protocol,
           std::shared_ptr<state> st, body_source body)
      : acceptor_(io, protocol, fd), retry_(io), state_(std::move(st)), body_(std::move(body)) {}

  void start() {
    state_->stop_endpoint = [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->stop();
    };
    accept();
  }

  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
    state_->listen_fd = -1;
  }

 private:
  void accept() {
    acceptor_.async_accept([self = shared_from_this()](boost::system::error_code ec,
                                                       boost::asio::ip::tcp::socket sock) {
      if (!self->acceptor_.is_open() || ec == boost::asio::error::operation_aborted) return;
      if (!ec) {
        std::make_shared<scrape>(std::move(sock), self->state_, self->body_)->start();
        self->accept();
        return;
      }
      // Out of descriptors, say: try again shortly rather than spin.
      self->retry_.expires_after(std::chrono::milliseconds(100));
      self->retry_.async_wait([self](boost::system::error_code wec) {
        if (!wec && self->acceptor_.is_open()) self->accept();
      });
    });
  }

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  std::shared_ptr<state> state_;
  body_source body_;
};

}  // namespace cluster::detail::statistics

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
  void on(events::rolling_restart_started const&, master_api&) {
    ++state_->rolling_restarts;
  }

  /// Hands the service's start time and counts to the new master.
  void on(events::restarting const& ev, master_api&) {
    ev.state.put<stats>(handover{state_->service_start_ms, state_->deaths,
                                 state_->rolling_restarts, state_->master_restarts});
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
    auto body = std::make_shared<std::function<std::string()> const>(
        [this, m] { return prometheus(*m); });
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
    auto timer = std::make_shared<boost::asio::steady_timer>(master.io(),
                                                              std::chrono::milliseconds(100));
    timer->async_wait([this, &master, attempts, timer](boost::system::error_code ec) {
      if (!ec) rebind(master, attempts - 1);
    });
  }
};

}  // namespace cluster
