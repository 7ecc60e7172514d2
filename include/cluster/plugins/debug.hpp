// SPDX-License-Identifier: BSL-1.0
// The debug plugin: one readable line on stderr for every master event, coloured on a terminal.
#pragma once

#include <cluster/plugin.hpp>
#include <cluster/plugins/wording.hpp>
#include <cluster/text.hpp>

#include <unistd.h>

#include <cerrno>
#include <concepts>
#include <optional>
#include <string>
#include <string_view>

namespace cluster {

/// When a plugin colours what it prints on a terminal.
enum class colors : unsigned char {
  automatic,  ///< only when the output is a terminal (not a pipe, a file or a journal)
  always,     ///< always, e.g. for a terminal the program cannot detect (`less -R`)
  never,      ///< never
};

/// Prints every event of the master as one line on stderr: `info - worker 2 spawned (pid 1234)`,
/// `warning - worker 0 died (signal 9, pid 1234)`, `info - shutdown complete`.
///
/// Each line is `<level> - <what happened>`, the level being `info`, `warning` or `error`, and
/// is written with a single `write(2)`, so that it never interleaves with other writers of the
/// same stderr (workers, the master's own messages). The levels are coloured according to the
/// `colors` given (by default: only when stderr is a terminal).
///
/// Only master events are printed; the events inside workers (`client_request` and the other
/// per-request events) are not handled, so they cost nothing. See docs/plugins/debug.md.
///
/// Example: `cluster::cluster<app>().in<"development">().use(cluster::debug{}).listen(3000)`
class debug {
 public:
  /// The plugin's name, as diagnostics and the restart state know it.
  static constexpr fixed_string name = "debug";

  /// Colours on a terminal only.
  constexpr debug() noexcept = default;

  /// Colours as `mode` says: `cluster::debug{cluster::colors::always}`.
  constexpr explicit debug(colors mode) noexcept : mode_(mode) {}

  /// The colour mode this plugin was given.
  [[nodiscard]] constexpr colors mode() const noexcept { return mode_; }

  //=== the master's events ===//

  /// `info - starting (pid 1234, environment development)`
  void on(events::start const& /*event*/, master_api& master) {
    print(level::info,
          text::format("starting (pid {}, environment {})", ::getpid(), master.environment()));
  }

  /// `info - listening on 127.0.0.1:8080`, one line per listener.
  void on(events::listening const& /*event*/, master_api& master) {
    for (auto const& address : master.addresses()) print(level::info, "listening on " + address);
  }

  /// `info - worker 2 spawned (pid 1234)`
  void on(events::worker_spawned const& event, master_api& /*master*/) {
    print(level::info, text::format("worker {} spawned (pid {})", event.id, event.pid));
  }

  /// `info - worker 2 connected`
  void on(events::worker_connected const& event, master_api& /*master*/) {
    print(level::info, text::format("worker {} connected", event.id));
  }

  /// `warning - worker 0 (pid 1234) crashed: killed by signal 9 (SIGKILL)`; a worker the master
  /// stopped, removed or signalled itself is an `info` line (the wording is `logger`'s too).
  void on(events::worker_killed const& event, master_api& /*master*/) { print(wording::of(event)); }

  /// `error - worker 1 exception (pid 1234): <what()>`
  void on(events::worker_exception const& event, master_api& /*master*/) {
    print(level::error,
          text::format("worker {} exception (pid {}): {}", event.id, event.pid, event.what));
  }

  /// `info - worker 3 removed (pid 1234)`
  void on(events::worker_removed const& event, master_api& /*master*/) {
    print(level::info, text::format("worker {} removed (pid {})", event.id, event.pid));
  }

  /// `warning - worker 1 (pid 1234) did not stop within 60000 ms; killing it`
  void on(events::worker_timeout const& event, master_api& /*master*/) {
    print(wording::of(event));
  }

  /// `info - worker 1 waiting: 3 connections still open (pid 1234)`
  void on(events::worker_waiting const& event, master_api& /*master*/) {
    print(level::info,
          text::format("worker {} waiting: {} connection{} still open (pid {})", event.id,
                       event.connections, event.connections == 1 ? "" : "s", event.pid));
  }

  /// `info - closing (graceful)` or `warning - closing (hard)`
  void on(events::closing const& event, master_api& /*master*/) {
    if (event.graceful) {
      print(level::info, "closing (graceful)");
    } else {
      print(level::warning, "closing (hard)");
    }
  }

  /// `info - shutdown complete`
  void on(events::close const& /*event*/, master_api& /*master*/) {
    print(level::info, "shutdown complete");
  }

  /// `info - kill: signal 15 to every worker`
  void on(events::kill const& event, master_api& /*master*/) {
    print(level::info, text::format("kill: signal {} to every worker", event.signal));
  }

  /// `info - restarting: a new master takes over`
  void on(events::restarting const& /*event*/, master_api& /*master*/) {
    print(level::info, "restarting: a new master takes over");
  }

  /// `info - restart: this master (pid 1234) took over from the previous one`
  void on(events::restart const& /*event*/, master_api& /*master*/) {
    print(level::info, text::format("restart: this master (pid {}) took over from the previous one",
                                    ::getpid()));
  }

  /// `warning - cyclic restart: delayed by 5000 ms`
  void on(events::cyclic_restart const& event, master_api& /*master*/) {
    print(level::warning, text::format("cyclic restart: delayed by {} ms", event.delay.count()));
  }

  /// `info - ready: every worker accepts (4)`
  void on(events::ready const& event, master_api& /*master*/) { print(wording::of(event)); }

  /// `info - rolling restart: started`
  void on(events::rolling_restart_started const& event, master_api& /*master*/) {
    print(wording::of(event));
  }

  /// `info - rolling restart: done, 4 workers replaced`
  void on(events::rolling_restart_done const& event, master_api& /*master*/) {
    print(wording::of(event));
  }

  /// `error - rolling restart: failed, the new worker 1234 died before it accepted (...)`
  void on(events::rolling_restart_failed const& event, master_api& /*master*/) {
    print(wording::of(event));
  }

  /// `error - restart failed: <why>; this master keeps serving`
  void on(events::restart_failed const& event, master_api& /*master*/) {
    print(wording::of(event));
  }

  /// `info - reopen: log files are reopened`, in the master only (workers get the event too).
  void on(events::reopen const& /*event*/, master_api& /*master*/) {
    print(level::info, "reopen: log files are reopened");
  }

 private:
  using level = log_level;

  void print(worded const& line) { print(line.level, line.text); }

  /// True when the lines get colour escapes; decided once, on the first line.
  bool coloured() {
    if (!coloured_) {
      coloured_ = mode_ == colors::always || (mode_ == colors::automatic && ::isatty(2) == 1);
    }
    return *coloured_;
  }

  void print(level what, std::string_view text) {
    std::string_view const word = what == level::debug     ? "debug"
                                  : what == level::info    ? "info"
                                  : what == level::warning ? "warning"
                                                           : "error";
    std::string line;
    if (coloured()) {
      // Bold, then green, yellow or red (ANSI SGR 1 and 32, 33, 31), then back to normal.
      line = what <= level::info      ? "\x1b[1m\x1b[32m"
             : what == level::warning ? "\x1b[1m\x1b[33m"
                                      : "\x1b[1m\x1b[31m";
      line += word;
      line += "\x1b[0m";
    } else {
      line = word;
    }
    line += " - ";
    line += text;
    line += '\n';
    // One write for the whole line: a write to a pipe of up to PIPE_BUF bytes is atomic, so the
    // line is never cut by another process writing to the same stderr. A longer line (a long
    // exception text) may be; it is still written whole, resuming after a partial write.
    char const* at = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      ssize_t const n = ::write(2, at, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // stderr closed or full: a debug line is not worth blocking for
      at += n;
      left -= static_cast<std::size_t>(n);
    }
  }

  colors mode_ = colors::automatic;
  std::optional<bool> coloured_;  ///< decided on the first line
};

}  // namespace cluster
