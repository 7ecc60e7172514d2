// SPDX-License-Identifier: BSL-1.0
// The cli plugin: the program doubles as its own control tool (`./server status`), talking to the
// running master over its control socket.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/linkage.hpp>
#include <cluster/plugin.hpp>
#include <cluster/plugins/pidfiles.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace cluster {

namespace detail::control {
class server;
}  // namespace detail::control

/// Makes the program its own control tool: `./server status`, `./server shutdown`, and the other
/// commands of `./server --help`, answered by the running master over its control socket.
///
/// In the master, the plugin listens on a unix socket (the `socket path` setting; a relative
/// path is in the pid files' directory, so by default `pids/cluster.sock`), created with mode
/// 0600 before anyone can connect. Only root and the master's own user may use it: every
/// connection's peer is checked (`SO_PEERCRED`), and every accepted command is one line on the
/// master's stderr. A socket file nobody answers on is stale and replaced; one where a master
/// answers stops start-up with one line. Workers never hold the socket.
///
/// Run with a command, the program starts nothing of the server (no bind, no log file, no worker):
/// it asks the master and exits with a status a script can trust. Commands that change something
/// wait for the outcome: `shutdown` returns once the master has exited, `restart-workers` once
/// every worker is replaced (non-zero if a replacement failed), `restart` once the new master's
/// workers accept (non-zero, with the reason, if the old master had to keep serving).
/// `--no-wait` returns as soon as the master has accepted the command; `--json` prints one JSON
/// document on stdout and everything else on stderr. When no master answers, `status` reads the
/// pid files instead, says so, and tells stale files from live processes. See docs/plugins/cli.md.
///
/// Requires `pidfiles`, used before it. Example:
/// `.use(cluster::pidfiles{}).use(cluster::cli{})`
class cli {
 public:
  /// The plugin's name, as diagnostics and the restart state know it.
  static constexpr fixed_string name = "cli";
  /// The pid files tell where the socket is, and which processes are there when no master
  /// answers.
  using requires_plugins = type_list<pidfiles>;

  cli() = default;

  //=== the program as a control tool ===//

  /// Runs the command `arguments` (argv) names, if any: its exit status, or nothing when the
  /// program is to serve (no arguments, or `start`). Called before anything of the master exists.
  template <class Config>
  std::optional<int> run_command(Config& config) const {
    return run_command(config.arguments(), config.settings(),
                       config.template plugin<pidfiles>().directory());
  }

  /// `run_command` with what it needs of the configuration.
  CLUSTER_DECL static std::optional<int> run_command(std::span<char* const> arguments,
                                                     core_settings const& settings,
                                                     std::filesystem::path const& pid_directory);

  /// The control socket's path for `socket_path` (the setting) and the pid files' `directory`.
  CLUSTER_DECL static std::filesystem::path socket_of(std::string_view socket_path,
                                                      std::filesystem::path const& directory);

  //=== the master's events ===//

  /// Opens the control socket (a restarted master takes it over once its workers accept).
  /// Throws `startup_error` when another master answers on it or it cannot be created.
  template <class Master>
  void on(events::start const& /*event*/, Master& master) {
    start(master, master.template plugin<pidfiles>().directory());
  }

  /// In a restarted master: takes the control socket over from its predecessor.
  CLUSTER_DECL void on(events::ready const& /*event*/, master_api& master);
  /// A `restart-workers` command is answered.
  CLUSTER_DECL void on(events::rolling_restart_done const& event, master_api& /*master*/);
  /// A `restart-workers` command is answered.
  CLUSTER_DECL void on(events::rolling_restart_failed const& event, master_api& /*master*/);
  /// A `restart` command goes on waiting: the new master is being started.
  CLUSTER_DECL void on(events::restarting const& /*event*/, master_api& /*master*/);
  /// A `restart` command goes on waiting: the restart is delayed.
  CLUSTER_DECL void on(events::cyclic_restart const& event, master_api& /*master*/);
  /// A `restart` command is answered.
  CLUSTER_DECL void on(events::restart_failed const& event, master_api& /*master*/);
  /// A `restart` command is answered when the new master serves and this one begins to stop.
  CLUSTER_DECL void on(events::closing const& /*event*/, master_api& master);
  /// The master exits next: the socket closes, which ends the waits of `shutdown` and `stop`.
  CLUSTER_DECL void on(events::close const& /*event*/, master_api& /*master*/);

 private:
  CLUSTER_DECL void start(master_api& master, std::filesystem::path const& pid_directory);

  std::filesystem::path path_;  ///< the socket, absolute, once started
  bool deferred_ = false;       ///< restarted: the predecessor still answers on `path_`
  std::chrono::steady_clock::time_point started_{};  ///< when this master started
  std::weak_ptr<detail::control::server> server_;
};

}  // namespace cluster

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/plugins/impl/cli.ipp>
#endif
