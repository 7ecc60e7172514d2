// SPDX-License-Identifier: BSL-1.0
// The repl plugin: a live administration console on a socket of its own, for any line client
// (socat, nc): the control tool's commands, typed one per line, answered in plain text.
#pragma once

#include <cluster/linkage.hpp>
#include <cluster/plugin.hpp>
#include <cluster/plugins/cli.hpp>

#include <string>
#include <utility>
#include <vector>

namespace cluster {

/// A console on the master, on a unix socket (`repl{"console.sock"}`) or a TCP port
/// (`repl::tcp(7000)`): a line client gets a prompt and runs the control tool's commands (`help`,
/// `status`, `pids`, `spawn(2)`, `kill(0, KILL)`, `restart-workers`, `restart`, `shutdown`,
/// `stop`) and, with `.commands(the_cli)`, the program's own. Nothing is evaluated: a line names
/// a declared command and its typed arguments, or is answered with an error.
///
/// The unix socket is created with mode 0600 before anyone can connect; only root and the
/// master's own user may use it (checked per connection). A TCP console has no such check, so it
/// listens on loopback only (127.0.0.1 by default): another address stops start-up unless
/// `.allow_remote()` says so. Every command is one line on the master's stderr. The console
/// lives in the master only (workers never hold its socket) and follows a master restart: the
/// new master takes it over once it serves. `./server console` (the cli plugin) gives the same
/// console on the control socket. See docs/plugins/repl.md.
///
/// Example: `.use(cluster::repl{"console.sock"})`, relative to the working directory.
class repl : public detail::control::endpoint {
 public:
  /// The plugin's name, as diagnostics and the restart state know it.
  static constexpr fixed_string name = "repl";
  /// With the stats plugin, `stats` prints its report.
  using optional_plugins = type_list<stats>;

  /// A console on the unix socket `path` (relative to the master's working directory).
  explicit repl(std::string path) : path_(std::move(path)) {}

  /// A console on TCP `port` of `host` (loopback unless `allow_remote()`); port 0 takes a free
  /// one, which the master's log names.
  [[nodiscard]] static repl tcp(unsigned short port, std::string host = "127.0.0.1") {
    repl out{std::string{}};
    out.tcp_ = true;
    out.port_ = port;
    out.host_ = std::move(host);
    return out;
  }

  /// What this plugin writes: its unix socket, if it has one.
  [[nodiscard]] std::vector<std::string> written_paths() const {
    if (tcp_ || path_.empty()) return {};
    return {path_};
  }

  /// This plugin, letting a TCP console listen on an address that is not loopback: anyone who
  /// reaches the port controls the master. Use a firewall, or better a unix socket.
  [[nodiscard]] repl allow_remote() const {
    repl out = *this;
    out.remote_ = true;
    return out;
  }

  /// This plugin, offering the commands of the program's own that `cli` declares too.
  template <class... Commands>
  [[nodiscard]] repl commands(basic_cli<Commands...> const& cli) const {
    repl out = *this;
    out.commands_ = cli.table();
    return out;
  }

  //=== the master's events ===//

  using endpoint::on;
  /// Opens the console's socket. Throws `startup_error` for an address that is not loopback
  /// (without `allow_remote()`), a unix socket where another master answers, or a socket that
  /// cannot be created.
  template <class Master>
  void on(events::start const& /*event*/, Master& master) {
    if constexpr (Master::template uses<stats>)
      commands_.push_back(master.template plugin<stats>().control_command());
    start(master);
  }
  /// In a restarted master: takes the console over from its predecessor.
  CLUSTER_DECL void on(events::ready const& /*event*/, master_api& master);

 private:
  CLUSTER_DECL void start(master_api& master);
  CLUSTER_DECL void open(master_api& master, bool take_over);
  /// Serves the console on the listening socket `fd` (the unix socket at `path`, or TCP).
  CLUSTER_DECL void serve(master_api& master, int fd, std::string const& path);

  std::string path_;  ///< the unix socket; absolute once started
  std::string host_;
  unsigned short port_ = 0;
  bool tcp_ = false;
  bool remote_ = false;
  bool deferred_ = false;  ///< restarted: the predecessor still listens
};

}  // namespace cluster

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/plugins/impl/repl.ipp>
#endif
