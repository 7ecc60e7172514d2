// SPDX-License-Identifier: BSL-1.0
// The logger plugin: master.log, workers.access.log and workers.error.log in one directory.
#pragma once

#include <cluster/linkage.hpp>
#include <cluster/plugin.hpp>
#include <cluster/plugins/wording.hpp>

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
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
  /// What this plugin writes: its directory (a watcher of the program's files leaves it out).
  [[nodiscard]] std::vector<std::filesystem::path> written_paths() const { return {dir_}; }
  /// The lowest level written to `master.log`.
  [[nodiscard]] log_level level() const noexcept { return level_; }

  //=== master: start-up and reopen ===//

  /// Checks the directory and opens the three files; a problem is a `startup_error`.
  CLUSTER_DECL void on(events::start const&, master_api& master);

  /// SIGUSR1: reopens `master.log`, and creates the workers' files anew so that they exist (and
  /// belong to the workers' user) before each worker reopens them.
  CLUSTER_DECL void on(events::reopen const&, master_api& master);

  //=== master: events ===//

  /// `listening on <addresses>` (info).
  CLUSTER_DECL void on(events::listening const&, master_api& master);
  /// `worker N spawned (pid P)` (info).
  CLUSTER_DECL void on(events::worker_spawned const& e, master_api&);
  /// `worker N connected (pid P)` (info).
  CLUSTER_DECL void on(events::worker_connected const& e, master_api&);
  /// A worker's end, worded and levelled by the master's reason (as `debug` words it): a crash is
  /// a warning; a worker the master stopped, removed or signalled is info.
  CLUSTER_DECL void on(events::worker_killed const& e, master_api&);
  /// The exception text, in `master.log` (error) and in `workers.error.log`, on one line.
  CLUSTER_DECL void on(events::worker_exception const& e, master_api&);
  /// `worker N (pid P) removed` (info).
  CLUSTER_DECL void on(events::worker_removed const& e, master_api&);
  /// A stopping worker killed after `timeout` (warning).
  CLUSTER_DECL void on(events::worker_timeout const& e, master_api&);
  CLUSTER_DECL void on(events::worker_hung const& e, master_api&);
  CLUSTER_DECL void on(events::worker_backoff const& e, master_api&);
  /// A stopping worker still serving connections (debug: repeated while it waits).
  CLUSTER_DECL void on(events::worker_waiting const& e, master_api&);
  /// The shutdown begins (info).
  CLUSTER_DECL void on(events::closing const& e, master_api&);
  /// Every worker is gone (info): the last line of a master.
  CLUSTER_DECL void on(events::close const&, master_api&);
  /// `start refused, the master exits: cannot listen on ...`: a master that never served.
  CLUSTER_DECL void on(events::start_refused const& e, master_api&);
  /// A signal to every worker (info).
  CLUSTER_DECL void on(events::kill const& e, master_api&);
  /// A master restart begins (info).
  CLUSTER_DECL void on(events::restarting const&, master_api&);
  /// This master took over from its predecessor (info).
  CLUSTER_DECL void on(events::restart const&, master_api&);
  /// A restart delayed as cyclic (warning).
  CLUSTER_DECL void on(events::cyclic_restart const& e, master_api&);

  /// Every worker accepts (info).
  CLUSTER_DECL void on(events::ready const& e, master_api&);
  /// A rolling restart begins (info).
  CLUSTER_DECL void on(events::rolling_restart_started const& e, master_api&);
  /// A rolling restart replaced every worker (info).
  CLUSTER_DECL void on(events::rolling_restart_done const& e, master_api&);
  /// A rolling restart stopped on a replacement that died (error).
  CLUSTER_DECL void on(events::rolling_restart_failed const& e, master_api&);
  /// A master restart that did not happen (error).
  CLUSTER_DECL void on(events::restart_failed const& e, master_api&);
  CLUSTER_DECL void on(events::reload const& e, master_api&);

  //=== worker ===//

  /// In the worker: stderr goes to `workers.error.log`; `master.log` is not the worker's.
  CLUSTER_DECL void on(events::worker_start const&, this_worker&);

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
  CLUSTER_DECL void on(events::reopen const&, this_worker& self);

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
    // Master: master.log could not be written (a full disk); lines lost since.
    bool master_failing = false;
    std::uint64_t master_lost = 0;
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

  CLUSTER_DECL static std::shared_ptr<files> open_all(std::filesystem::path const& dir, bool give,
                                                      uid_t uid, gid_t gid);

  /// Opens one log file at start-up, and gives it to the workers' user when `give`.
  CLUSTER_DECL static int open_checked(std::string const& path, bool give, uid_t uid, gid_t gid);

  /// Opens `path` anew and puts it in place of `fd` (same number, still close-on-exec unless it
  /// is stderr); on failure `fd` keeps the old file and `problems` says why.
  CLUSTER_DECL static void reopen_onto(std::string const& path, int fd, bool give, uid_t uid,
                                       gid_t gid, std::string& problems);

  //--- writing ---//

  /// Writes everything, or stops at the first error: its errno, or 0.
  CLUSTER_DECL static int write_all(int fd, char const* data, std::size_t size);

  /// The buffered access lines, in one write() to the file opened O_APPEND: whole lines, so
  /// lines of different workers never interleave.
  void flush() {
    if (!state_ || state_->buffer.empty()) return;
    auto& s = *state_;
    write_all(s.access_fd, s.buffer.data(), s.buffer.size());
    s.buffer.clear();
  }

  /// One line in `master.log`, if `level` is at or above the chosen one: one write().
  CLUSTER_DECL void log(worded const& line) const;

  CLUSTER_DECL void log(log_level level, std::string_view text) const;

  /// Now, as `2026-11-27T18:31:49.123Z`.
  CLUSTER_DECL static std::string iso_timestamp();

  /// Now, as `27/Nov/2026:18:31:49 +0000`, formatted once per second. CLOCK_REALTIME_COARSE is
  /// read from the vDSO, without entering the kernel.
  static std::string_view clf_timestamp(files& s) {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != s.stamp_second) restamp(s, ts.tv_sec);
    return {s.stamp.data(), s.stamp_size};
  }

  /// Formats `second` into `s.stamp`, once per second.
  CLUSTER_DECL static void restamp(files& s, std::time_t second);

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
  CLUSTER_DECL static std::string one_line(std::string_view text);

  std::filesystem::path dir_ = "logs";
  log_level level_ = log_level::info;
  std::shared_ptr<files> state_;
};

}  // namespace cluster

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/plugins/impl/logger.ipp>
#endif
