// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/plugins/debug.hpp>: inline in each program (header-only), or compiled
// once into cluster::compiled (see <cluster/src.hpp>).
#pragma once

#include <cluster/os/process.hpp>
#include <cluster/plugins/debug.hpp>
#include <cluster/plugins/wording.hpp>
#include <cluster/text.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <string_view>

namespace cluster {

CLUSTER_DECL void debug::on(events::start const& /*event*/, master_api& master) {
  print(level::info,
        text::format("starting (pid {}, environment {})", ::getpid(), master.environment()));
}

CLUSTER_DECL void debug::on(events::listening const& /*event*/, master_api& master) {
  for (auto const& address : master.addresses()) print(level::info, "listening on " + address);
}

CLUSTER_DECL void debug::on(events::worker_spawned const& event, master_api& /*master*/) {
  print(level::info, text::format("worker {} spawned (pid {})", event.id, event.pid));
}

CLUSTER_DECL void debug::on(events::worker_connected const& event, master_api& /*master*/) {
  print(level::info, text::format("worker {} connected", event.id));
}

CLUSTER_DECL void debug::on(events::worker_killed const& event, master_api& /*master*/) {
  print(wording::of(event));
}

CLUSTER_DECL void debug::on(events::worker_exception const& event, master_api& /*master*/) {
  print(level::error,
        text::format("worker {} exception (pid {}): {}", event.id, event.pid, event.what));
}

CLUSTER_DECL void debug::on(events::worker_removed const& event, master_api& /*master*/) {
  print(level::info, text::format("worker {} removed (pid {})", event.id, event.pid));
}

CLUSTER_DECL void debug::on(events::worker_timeout const& event, master_api& /*master*/) {
  print(wording::of(event));
}

CLUSTER_DECL void debug::on(events::worker_hung const& event, master_api& /*master*/) {
  // The trace itself is on stderr already: the master prints it with the death.
  print(wording::of(event));
}

CLUSTER_DECL void debug::on(events::worker_backoff const& event, master_api& /*master*/) {
  print(wording::of(event));
}

CLUSTER_DECL void debug::on(events::worker_waiting const& event, master_api& /*master*/) {
  print(level::info,
        text::format("worker {} waiting: {} connection{} still open (pid {})", event.id,
                     event.connections, event.connections == 1 ? "" : "s", event.pid));
}

CLUSTER_DECL void debug::on(events::closing const& event, master_api& /*master*/) {
  if (event.graceful) {
    print(level::info, "closing (graceful)");
  } else {
    print(level::warning, "closing (hard)");
  }
}

CLUSTER_DECL void debug::on(events::close const& /*event*/, master_api& /*master*/) {
  print(level::info, "shutdown complete");
}

CLUSTER_DECL void debug::on(events::kill const& event, master_api& /*master*/) {
  print(level::info, text::format("kill: {} to every worker", os::signal_name(event.signal)));
}

CLUSTER_DECL void debug::on(events::restarting const& /*event*/, master_api& /*master*/) {
  print(level::info, "restarting: a new master takes over");
}

CLUSTER_DECL void debug::on(events::restart const& /*event*/, master_api& /*master*/) {
  print(level::info,
        text::format("restart: this master (pid {}) took over from the previous one", ::getpid()));
}

CLUSTER_DECL void debug::on(events::cyclic_restart const& event, master_api& /*master*/) {
  print(level::warning, text::format("cyclic restart: delayed by {} ms", event.delay.count()));
}

CLUSTER_DECL void debug::on(events::ready const& event, master_api& /*master*/) {
  print(wording::of(event));
}

CLUSTER_DECL void debug::on(events::rolling_restart_started const& event, master_api& /*master*/) {
  print(wording::of(event));
}

CLUSTER_DECL void debug::on(events::rolling_restart_done const& event, master_api& /*master*/) {
  print(wording::of(event));
}

CLUSTER_DECL void debug::on(events::rolling_restart_failed const& event, master_api& /*master*/) {
  print(wording::of(event));
}

CLUSTER_DECL void debug::on(events::reload const& event, master_api& /*master*/) {
  print(wording::of(event));
}

CLUSTER_DECL void debug::on(events::restart_failed const& event, master_api& /*master*/) {
  print(wording::of(event));
}

CLUSTER_DECL void debug::on(events::reopen const& /*event*/, master_api& /*master*/) {
  print(level::info, "reopen: log files are reopened");
}

CLUSTER_DECL void debug::print(worded const& line) { print(line.level, line.text); }

CLUSTER_DECL bool debug::coloured() {
  if (!coloured_) {
    coloured_ = mode_ == colors::always || (mode_ == colors::automatic && ::isatty(2) == 1);
  }
  return *coloured_;
}

CLUSTER_DECL void debug::print(level what, std::string_view text) {
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

}  // namespace cluster
