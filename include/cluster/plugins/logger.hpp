// SPDX-License-Identifier: BSL-1.0
// The logger plugin: master.log, workers.access.log and workers.error.log in one directory.
#pragma once

#include <cluster/plugin.hpp>
#include <cluster/plugins/wording.hpp>
#include <cluster/text.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace cluster {

/// Logs the cluster to three files in one directory: `master.log` (the master's events),
/// `workers.access.log` (one line per HTTP request, in Common Log Format with the worker id and
/// the duration) and `workers.error.log` (what workers write to stderr, and their exceptions).
///
/// The directory is resolved against the master's working directory at start-up and must exist;
/// it is never created. SIGUSR1 to the master reopens every file, in the master and in each
/// worker, so that logrotate can move them away (see docs/plugins/logger.md).
///
/// Access lines are buffered in each worker and appended with one write() of whole lines (when
/// the buffer passes 8 KiB, four times a second, before a reopen and when the worker exits), so
/// that the request path makes no system call and lines from different workers never tear.
///
/// Errors: a missing directory, a path that is not a directory, a file that cannot be opened for
/// writing: one line `cluster: logger: ...` and exit status 1, before any worker starts.
///
/// Example: `.use(cluster::logger{"/var/log/app", cluster::log_level::warning})`
class logger {
 public:
  static constexpr fixed_string name = "logger";

  /// Buffered access lines are written once they pass this size (and on every tick).
  static constexpr std::size_t flush_size = 8192;

  /// Logs to `logs/` (relative to the working directory) at level `info`.
  logger() = default;

  /// Logs to `dir` (relative to the master's working directory, unless absolute), writing the
  /// master's events at `level` and above.
  explicit logger(std::filesystem::path dir, log_level level = log_level::info)
      : dir_(std::move(dir)), level_(level) {}

  /// The directory as given.
  [[nodiscard]] std::filesystem::path const& directory() const noexcept { return dir_; }
  /// The lowest level written to `master.log`.
  [[nodiscard]] log_level level() const noexcept { return level_; }

  //=== master: start-up and reopen ===//

  /// Checks the directory and opens the three files; a problem is a `startup_error`.
  void on(events::start const&, master_api& master) {
    auto const& who = master.worker_credentials();
    state_ = open_all(dir_, who.change, who.uid, who.gid);
    log(log_level::info, text::format("master {} starting ({} workers, environment {})", ::getpid(),
                                      master.settings().workers, master.environment()));
  }

  /// SIGUSR1: reopens `master.log`, and creates the workers' files anew so that they exist (and
  /// belong to the workers' user) before each worker reopens them.
  void on(events::reopen const&, master_api& master) {
    if (!state_) return;
    auto const& who = master.worker_credentials();
    auto& s = *state_;
    std::string problems;
    reopen_onto(s.master_path, s.master_fd, false, 0, 0, problems);
    reopen_onto(s.access_path, s.access_fd, who.change, who.uid, who.gid, problems);
    reopen_onto(s.error_path, s.error_fd, who.change, who.uid, who.gid, problems);
    if (problems.empty()) {
      log(log_level::info, "log files reopened");
    } else {
      log(log_level::error, "reopening log files: " + problems + "; the old files stay in use");
    }
  }

  //=== master: events ===//

  /// `listening on <addresses>` (info).
  void on(events::listening const&, master_api& master) {
    std::string where;
    for (auto const& a : master.addresses()) where += (where.empty() ? "" : ", ") + a;
    log(log_level::info, "listening on " + (where.empty() ? std::string("nothing") : where));
  }
  /// `worker N spawned (pid P)` (info).
  void on(events::worker_spawned const& e, master_api&) {
    log(log_level::info, text::format("worker {} spawned (pid {})", e.id, e.pid));
  }
  /// `worker N connected (pid P)` (info).
  void on(events::worker_connected const& e, master_api&) {
    log(log_level::info, text::format("worker {} connected (pid {})", e.id, e.pid));
  }
  /// A worker's end, worded and levelled by the master's reason (as `debug` words it): a crash is
  /// a warning; a worker the master stopped, removed or signalled is info.
  void on(events::worker_killed const& e, master_api&) { log(wording::of(e)); }
  /// The exception text, in `master.log` (error) and in `workers.error.log`, on one line.
  void on(events::worker_exception const& e, master_api&) {
    if (!state_) return;
    std::string const text =
        text::format("worker {} (pid {}) exception: {}", e.id, e.pid, one_line(e.what));
    log(log_level::error, text);
    std::string line = iso_timestamp();
    line += " error ";
    line += text;
    line += '\n';
    write_all(state_->error_fd, line.data(), line.size());
  }
  /// `worker N (pid P) removed` (info).
  void on(events::worker_removed const& e, master_api&) {
    log(log_level::info, text::format("worker {} (pid {}) removed", e.id, e.pid));
  }
  /// A stopping worker killed after `timeout` (warning).
  void on(events::worker_timeout const& e, master_api&) { log(wording::of(e)); }
  /// A stopping worker still serving connections (debug: repeated while it waits).
  void on(events::worker_waiting const& e, master_api&) {
    log(log_level::debug, text::format("worker {} (pid {}) stopping, waiting for {} connections",
                                       e.id, e.pid, e.connections));
  }
  /// The shutdown begins (info).
  void on(events::closing const& e, master_api&) {
    log(log_level::info, e.graceful ? "closing: graceful shutdown" : "closing: hard shutdown");
  }
  /// Every worker is gone (info): the last line of a master.
  void on(events::close const&, master_api&) {
    log(log_level::info, "closed: every worker is gone; the master exits");
  }
  /// A signal to every worker (info).
  void on(events::kill const& e, master_api&) {
    log(log_level::info, text::format("sending signal {} ({}) to every worker", e.signal,
                                      os::signal_name(e.signal)));
  }
  /// A master restart begins (info).
  void on(events::restarting const&, master_api&) {
    log(log_level::info, "restarting: starting a new master");
  }
  /// This master took over from its predecessor (info).
  void on(events::restart const&, master_api&) {
    log(log_level::info, text::format("restart: master {} took over", ::getpid()));
  }
  /// A restart delayed as cyclic (warning).
  void on(events::cyclic_restart const& e, master_api&) {
    log(log_level::warning,
        text::format("cyclic restart: too soon after the previous one; delayed by {} ms",
                     e.delay.count()));
  }

  /// Every worker accepts (info).
  void on(events::ready const& e, master_api&) { log(wording::of(e)); }
  /// A rolling restart begins (info).
  void on(events::rolling_restart_started const& e, master_api&) { log(wording::of(e)); }
  /// A rolling restart replaced every worker (info).
  void on(events::rolling_restart_done const& e, master_api&) { log(wording::of(e)); }
  /// A rolling restart stopped on a replacement that died (error).
  void on(events::rolling_restart_failed const& e, master_api&) { log(wording::of(e)); }
  /// A master restart that did not happen (error).
  void on(events::restart_failed const& e, master_api&) { log(wording::of(e)); }

  //=== worker ===//

  /// In the worker: stderr goes to `workers.error.log`; `master.log` is not the worker's.
  void on(events::worker_start const&, this_worker&) {
    if (!state_) return;
    auto& s = *state_;
    if (s.master_fd > 2) ::close(s.master_fd);
    s.master_fd = -1;
    if (s.error_fd >= 0 && s.error_fd != STDERR_FILENO) {
      // dup2, not dup3: fd 2 must survive an exec() the application does (its children's
      // stderr goes to the same file).
      ::dup2(s.error_fd, STDERR_FILENO);
      ::close(s.error_fd);
      s.error_fd = STDERR_FILENO;
    }
    s.buffer.reserve(2 * flush_size);
  }

  /// In the worker: one access line into the buffer; no system call unless the buffer is full.
  void on(events::client_request const& e, this_worker&) {
    if (!state_ || state_->access_fd < 0) return;
    auto& s = *state_;
    std::string& b = s.buffer;
    // Appended piece by piece, numbers with std::to_chars: a third of the instructions of one
    // formatting call with its pattern parsed per line.
    auto number = [&b](auto value) {
      std::array<char, 24> digits{};
      auto const end = std::to_chars(digits.data(), digits.data() + digits.size(), value).ptr;
      b.append(digits.data(), end);
    };
    append_escaped(b, client_host(e.remote));
    b += " - - [";
    b.append(clf_timestamp(s));
    b += "] \"";
    append_escaped(b, e.method);
    b += ' ';
    append_escaped(b, e.target);
    b += " HTTP/";
    number(e.version / 10);
    b += '.';
    number(e.version % 10);
    b += "\" ";
    number(e.status);
    b += ' ';
    number(e.bytes);
    b += " worker=";
    number(e.id);
    b += " us=";
    number(e.duration.count());
    b += '\n';
    if (b.size() >= flush_size) flush();
  }

  /// In the worker, four times a second: the buffered lines go out.
  void on(events::tick const&, this_worker&) { flush(); }

  /// In the worker, before it exits: the buffered lines go out.
  void on(events::worker_exit const&, this_worker&) { flush(); }

  /// In the worker, after the master reopened: the buffered lines go to the old file, then the
  /// access log and stderr are pointed at the files now at the paths.
  void on(events::reopen const&, this_worker& self) {
    if (!state_) return;
    flush();
    auto& s = *state_;
    std::string problems;
    reopen_onto(s.access_path, s.access_fd, false, 0, 0, problems);
    reopen_onto(s.error_path, s.error_fd, false, 0, 0, problems);
    if (!problems.empty()) {
      std::string const line = text::format("{} error worker {} (pid {}) reopening log files: {}\n",
                                            iso_timestamp(), self.id(), self.pid(), problems);
      write_all(STDERR_FILENO, line.data(), line.size());
    }
  }

 private:
  /// What the master and its workers hold open, shared by the copies of the plugin in one
  /// process (each worker has its own after fork()). Closes what it holds when the last copy
  /// goes; workers leave by _exit() and never get there.
  struct files {
    std::string master_path;
    std::string access_path;
    std::string error_path;
    int master_fd = -1;
    int access_fd = -1;
    int error_fd = -1;
    // Worker: buffered access lines, and the formatted time of the current second.
    std::string buffer;
    std::time_t stamp_second = -1;
    std::array<char, 32> stamp{};
    std::size_t stamp_size = 0;

    files() = default;
    files(files const&) = delete;
    files& operator=(files const&) = delete;
    ~files() {
      for (int fd : {master_fd, access_fd, error_fd}) {
        if (fd > STDERR_FILENO) ::close(fd);
      }
    }
  };

  //--- start-up ---//

  static constexpr int open_flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
  static constexpr mode_t file_mode = 0644;

  static std::shared_ptr<files> open_all(std::filesystem::path const& dir, bool give, uid_t uid,
                                         gid_t gid) {
    if (dir.empty()) {
      throw startup_error(
          "cluster: logger: the log directory is empty; pass one, e.g. cluster::logger{\"logs\"}");
    }
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(dir, ec);
    if (ec) {
      throw startup_error("cluster: logger: cannot resolve the log directory " + dir.string() +
                          ": " + ec.message() + "; pass an absolute path to cluster::logger");
    }
    abs = abs.lexically_normal();
    std::string d = abs.string();
    if (d.size() > 1 && d.back() == '/') d.pop_back();
    struct stat st {};
    if (::stat(d.c_str(), &st) != 0) {
      int const err = errno;
      if (err == ENOENT) {
        throw startup_error("cluster: logger: the log directory " + d +
                            " does not exist; create it (mkdir -p " + d +
                            ") or pass an existing one to cluster::logger");
      }
      throw startup_error("cluster: logger: cannot use the log directory " + d + ": " +
                          std::strerror(err) + "; pass a directory the master can reach");
    }
    if (!S_ISDIR(st.st_mode)) {
      throw startup_error("cluster: logger: " + d +
                          " is not a directory; pass a directory to cluster::logger (the log "
                          "files are created in it)");
    }
    if (::access(d.c_str(), W_OK | X_OK) != 0) {
      throw startup_error("cluster: logger: cannot write in the log directory " + d + ": " +
                          std::strerror(errno) + "; make it writable by uid " +
                          std::to_string(::geteuid()) + " (chown or chmod it)");
    }
    auto s = std::make_shared<files>();
    s->master_path = d + "/master.log";
    s->access_path = d + "/workers.access.log";
    s->error_path = d + "/workers.error.log";
    s->master_fd = open_checked(s->master_path, false, 0, 0);
    s->access_fd = open_checked(s->access_path, give, uid, gid);
    s->error_fd = open_checked(s->error_path, give, uid, gid);
    return s;
  }

  /// Opens one log file at start-up, and gives it to the workers' user when `give`.
  static int open_checked(std::string const& path, bool give, uid_t uid, gid_t gid) {
    // O_NONBLOCK: a FIFO without a reader must be an error, not a master hanging in open().
    int const fd = ::open(path.c_str(), open_flags | O_NONBLOCK, file_mode);
    if (fd < 0) {
      int const err = errno;
      if (err == EISDIR) {
        throw startup_error("cluster: logger: the log file " + path +
                            " is a directory; remove or rename it");
      }
      throw startup_error("cluster: logger: cannot open the log file " + path + " for writing: " +
                          std::strerror(err) + "; make it a regular file writable by uid " +
                          std::to_string(::geteuid()) + " (or remove it)");
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (give && ::fchown(fd, uid, gid) != 0) {
      int const err = errno;
      ::close(fd);
      throw startup_error("cluster: logger: cannot give the log file " + path +
                          " to the workers' user (uid " + std::to_string(uid) + ", gid " +
                          std::to_string(gid) + "): " + std::strerror(err) +
                          "; start the master as root, or chown the file to that user");
    }
    return fd;
  }

  /// Opens `path` anew and puts it in place of `fd` (same number, still close-on-exec unless it
  /// is stderr); on failure `fd` keeps the old file and `problems` says why.
  static void reopen_onto(std::string const& path, int fd, bool give, uid_t uid, gid_t gid,
                          std::string& problems) {
    if (fd < 0) return;
    int const fresh = ::open(path.c_str(), open_flags | O_NONBLOCK, file_mode);
    if (fresh < 0) {
      problems += (problems.empty() ? "" : "; ") + path + ": " + std::strerror(errno);
      return;
    }
    ::fcntl(fresh, F_SETFL, ::fcntl(fresh, F_GETFL) & ~O_NONBLOCK);
    if (give && ::fchown(fresh, uid, gid) != 0) {
      problems += (problems.empty() ? "" : "; ") + path + ": cannot chown: " + std::strerror(errno);
    }
    // Onto the same number: whoever holds it (stderr, the buffered writer) now writes to the new
    // file, with no moment where the number is closed.
    if (fd == STDERR_FILENO) {
      ::dup2(fresh, fd);
    } else {
      ::dup3(fresh, fd, O_CLOEXEC);
    }
    ::close(fresh);
  }

  //--- writing ---//

  static void write_all(int fd, char const* data, std::size_t size) {
    if (fd < 0) return;
    while (size > 0) {
      ssize_t const n = ::write(fd, data, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;  // a full disk loses lines; it must not stop the server
      }
      data += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  /// The buffered access lines, in one write() to the file opened O_APPEND: whole lines, so
  /// lines of different workers never interleave.
  void flush() {
    if (!state_ || state_->buffer.empty()) return;
    auto& s = *state_;
    write_all(s.access_fd, s.buffer.data(), s.buffer.size());
    s.buffer.clear();
  }

  /// One line in `master.log`, if `level` is at or above the chosen one: one write().
  void log(worded const& line) const { log(line.level, line.text); }

  void log(log_level level, std::string_view text) const {
    if (!state_ || state_->master_fd < 0 || level < level_) return;
    static constexpr std::array<std::string_view, 4> names{"debug", "info", "warning", "error"};
    std::string const line =
        text::format("{} {} {}\n", iso_timestamp(), names[static_cast<std::size_t>(level)], text);
    write_all(state_->master_fd, line.data(), line.size());
  }

  /// Now, as `2026-11-27T18:31:49.123Z`.
  static std::string iso_timestamp() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    std::tm t{};
    ::gmtime_r(&ts.tv_sec, &t);
    return text::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", t.tm_year + 1900,
                        t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                        ts.tv_nsec / 1000000);
  }

  /// Now, as `27/Nov/2026:18:31:49 +0000`, formatted once per second. CLOCK_REALTIME_COARSE is
  /// read from the vDSO, without entering the kernel.
  static std::string_view clf_timestamp(files& s) {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != s.stamp_second) {
      static constexpr std::array<char const*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
      std::tm t{};
      ::gmtime_r(&ts.tv_sec, &t);
      std::string const stamp = text::format("{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000", t.tm_mday,
                                             months[static_cast<std::size_t>(t.tm_mon)],
                                             t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
      s.stamp_size = std::min(stamp.size(), s.stamp.size());
      std::copy_n(stamp.data(), s.stamp_size, s.stamp.data());
      s.stamp_second = ts.tv_sec;
    }
    return {s.stamp.data(), s.stamp_size};
  }

  /// The client's address without its port: `127.0.0.1:5123` -> `127.0.0.1`, `[::1]:5123` ->
  /// `::1`; `unix` stays.
  static std::string_view client_host(std::string_view remote) noexcept {
    if (remote.starts_with('[')) {
      auto const close = remote.find(']');
      return close == std::string_view::npos ? remote : remote.substr(1, close - 1);
    }
    auto const colon = remote.rfind(':');
    return colon == std::string_view::npos ? remote : remote.substr(0, colon);
  }

  /// Appends `text` with spaces, control bytes, quotes, backslashes and non-ASCII bytes written
  /// as `\xHH`, so that every line parses the same way and none is ever split.
  static void append_escaped(std::string& out, std::string_view text) {
    auto const plain = [](unsigned char c) {
      return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
    };
    auto it = std::find_if_not(text.begin(), text.end(),
                               [&](char c) { return plain(static_cast<unsigned char>(c)); });
    if (it == text.end()) {
      out.append(text);
      return;
    }
    static constexpr char hex[] = "0123456789ABCDEF";
    for (char c : text) {
      auto const u = static_cast<unsigned char>(c);
      if (plain(u)) {
        out += c;
      } else {
        out += "\\x";
        out += hex[u >> 4U];
        out += hex[u & 0xFU];
      }
    }
  }

  /// `text` on one line: control characters (a multi-line exception message) become spaces.
  static std::string one_line(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    }
    return out;
  }

  std::filesystem::path dir_ = "logs";
  log_level level_ = log_level::info;
  std::shared_ptr<files> state_;
};

}  // namespace cluster
