// SPDX-License-Identifier: BSL-1.0
// The debug plugin: one readable line on stderr for every master event, coloured on a terminal.
#pragma once

#include <cluster/linkage.hpp>
#include <cluster/plugin.hpp>
#include <cluster/plugins/wording.hpp>

#include <optional>
#include <string_view>

namespace cluster {

/// When a plugin colours what it prints on a terminal.
enum class colors : unsigned char {
  automatic,  ///< only when the output is a terminal (not a pipe, a file or a journal)
  always,     ///< always, e.g. for a terminal the program cannot detect (`less -R`)
  never,      ///< never
};

/// Prints every event of the master as one line on stderr: `info - worker 2 spawned (pid 1234)`,
/// `warning - worker 0 (pid 1234) crashed: killed by SIGKILL`, `info - shutdown complete`.
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
  CLUSTER_DECL void on(events::start const& /*event*/, master_api& master);

  /// `info - listening on 127.0.0.1:8080`, one line per listener.
  CLUSTER_DECL void on(events::listening const& /*event*/, master_api& master);

  /// `info - worker 2 spawned (pid 1234)`
  CLUSTER_DECL void on(events::worker_spawned const& event, master_api& /*master*/);

  /// `info - worker 2 connected`
  CLUSTER_DECL void on(events::worker_connected const& event, master_api& /*master*/);

  /// `warning - worker 0 (pid 1234) crashed: killed by SIGKILL`; a worker the master
  /// stopped, removed or signalled itself is an `info` line (the wording is `logger`'s too).
  CLUSTER_DECL void on(events::worker_killed const& event, master_api& /*master*/);

  /// `error - worker 1 exception (pid 1234): <what()>`
  CLUSTER_DECL void on(events::worker_exception const& event, master_api& /*master*/);

  /// `info - worker 3 removed (pid 1234)`
  CLUSTER_DECL void on(events::worker_removed const& event, master_api& /*master*/);

  /// `warning - worker 1 (pid 1234) did not stop within 60000 ms; killing it`
  CLUSTER_DECL void on(events::worker_timeout const& event, master_api& /*master*/);
  CLUSTER_DECL void on(events::worker_hung const& event, master_api& /*master*/);
  CLUSTER_DECL void on(events::worker_backoff const& event, master_api& /*master*/);

  /// `info - worker 1 waiting: 3 connections still open (pid 1234)`
  CLUSTER_DECL void on(events::worker_waiting const& event, master_api& /*master*/);

  /// `info - closing (graceful)` or `warning - closing (hard)`
  CLUSTER_DECL void on(events::closing const& event, master_api& /*master*/);

  /// `info - shutdown complete`
  CLUSTER_DECL void on(events::close const& /*event*/, master_api& /*master*/);

  /// `info - kill: SIGTERM to every worker`
  CLUSTER_DECL void on(events::kill const& event, master_api& /*master*/);

  /// `info - restarting: a new master takes over`
  CLUSTER_DECL void on(events::restarting const& /*event*/, master_api& /*master*/);

  /// `info - restart: this master (pid 1234) took over from the previous one`
  CLUSTER_DECL void on(events::restart const& /*event*/, master_api& /*master*/);

  /// `warning - cyclic restart: delayed by 5000 ms`
  CLUSTER_DECL void on(events::cyclic_restart const& event, master_api& /*master*/);

  /// `info - ready: every worker accepts (4)`
  CLUSTER_DECL void on(events::ready const& event, master_api& /*master*/);

  /// `info - rolling restart: started`
  CLUSTER_DECL void on(events::rolling_restart_started const& event, master_api& /*master*/);

  /// `info - rolling restart: done, 4 workers replaced`
  CLUSTER_DECL void on(events::rolling_restart_done const& event, master_api& /*master*/);

  /// `error - rolling restart: failed, the new worker 1234 died before it accepted (...)`
  CLUSTER_DECL void on(events::rolling_restart_failed const& event, master_api& /*master*/);

  /// `error - restart failed: <why>; this master keeps serving`
  CLUSTER_DECL void on(events::restart_failed const& event, master_api& /*master*/);
  CLUSTER_DECL void on(events::reload const& event, master_api& /*master*/);

  /// `info - reopen: log files are reopened`, in the master only (workers get the event too).
  CLUSTER_DECL void on(events::reopen const& /*event*/, master_api& /*master*/);

 private:
  using level = log_level;

  CLUSTER_DECL void print(worded const& line);

  /// True when the lines get colour escapes; decided once, on the first line.
  CLUSTER_DECL bool coloured();

  CLUSTER_DECL void print(level what, std::string_view text);

  colors mode_ = colors::automatic;
  std::optional<bool> coloured_;  ///< decided on the first line
};

}  // namespace cluster

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/plugins/impl/debug.ipp>
#endif
