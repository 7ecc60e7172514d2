// SPDX-License-Identifier: BSL-1.0
// The plugin contract: what a hook's `master` argument offers, and what it is not allowed to reach.
#pragma once

#include <cluster/config/concepts.hpp>
#include <cluster/config/core_settings.hpp>
#include <cluster/config/fixed_string.hpp>
#include <cluster/config/settings.hpp>
#include <cluster/events.hpp>
#include <cluster/ipc/scoreboard.hpp>
#include <cluster/os/credentials.hpp>
#include <cluster/signals.hpp>

#include <signal.h>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace cluster {

/// Where a live worker process is in its life, as the master sees it.
enum class worker_state : std::uint8_t {
  starting,  ///< forked, not accepting yet
  ready,     ///< it reported that it accepts (or runs its job)
  stopping,  ///< asked to stop gracefully (SIGQUIT); not replaced when it exits
};

/// How a worker process ended: the last one with a given id (see `worker_info::last_exit`).
struct worker_exit_info {
  int pid = 0;
  int exit_code = 0;  ///< meaningful when signal == 0
  int signal = 0;     ///< the signal that ended it, or 0
  events::exit_reason reason = events::exit_reason::crashed;
  std::chrono::steady_clock::time_point at{};
};

/// What the master tells a plugin about one live worker process (`master.workers()`).
struct worker_info {
  unsigned id = 0;
  int pid = 0;
  unsigned generation = 1;  ///< 1 for the first process with this id, 2 for its replacement, ...
  std::chrono::steady_clock::time_point spawned_at{};
  worker_state state = worker_state::starting;
  std::optional<worker_exit_info> last_exit;  ///< how the previous process with this id ended
};

/// A worker id with no process for now: its workers died young, and its replacement waits out
/// the crash-loop policy's delay (`master.waiting()`, docs/health.md).
struct waiting_info {
  unsigned id = 0;
  unsigned deaths = 0;                            ///< deaths in a row of its short-lived workers
  std::chrono::steady_clock::time_point until{};  ///< when its replacement is started
  std::optional<worker_exit_info> last_exit;      ///< how its last worker ended
};

namespace detail {

/// What `master_api` calls: implemented by the master's core. Virtual, so that a plugin calls the
/// master without the master's headers (Asio and the process code) and compiles on its own.
class master_ops {
 public:
  virtual void spawn(int n) = 0;
  virtual void close() = 0;
  virtual void destroy() = 0;
  virtual void kill(int signal) = 0;
  virtual int kill_worker(unsigned id, int signal) = 0;
  virtual void restart(int stop_signal) = 0;
  virtual void restart_workers() = 0;
  virtual void reopen_logs() = 0;
  virtual void keep_from_workers(int fd) = 0;
  virtual void release_to_workers(int fd) = 0;
  virtual master_state state() const noexcept = 0;
  virtual std::size_t worker_count() const noexcept = 0;
  virtual std::vector<worker_info> workers() const = 0;
  virtual std::vector<waiting_info> waiting() const = 0;
  virtual std::vector<int> pids() const = 0;
  virtual int pid_of(unsigned id) const noexcept = 0;
  virtual std::optional<ipc::slot_snapshot> counters_of(int pid) const noexcept = 0;
  virtual os::credentials const& worker_credentials() const noexcept = 0;
  virtual std::string_view environment() const noexcept = 0;
  virtual core_settings const& settings() const noexcept = 0;
  virtual std::vector<std::string> addresses() const = 0;
  virtual bool restarted() const noexcept = 0;
  virtual std::string_view executable() const noexcept = 0;
  virtual std::vector<std::string> const& command_line() const noexcept = 0;
  virtual std::string_view start_directory() const noexcept = 0;
  virtual std::vector<std::string> written_paths() const = 0;
  virtual void announce(events::reload const& event) = 0;
  virtual boost::asio::io_context& io() noexcept = 0;
  virtual ~master_ops() = default;

 protected:
  master_ops() = default;
  master_ops(master_ops const&) = default;
  master_ops& operator=(master_ops const&) = default;
  master_ops(master_ops&&) noexcept = default;
  master_ops& operator=(master_ops&&) noexcept = default;
};

}  // namespace detail

/// The master as every plugin sees it, whatever the configuration: what a hook may ask of it and
/// tell it. Every hook's `master` argument is one (a `cluster::plugin_master`, which adds the
/// configuration's settings and the plugins this plugin requires).
///
/// Not a template: a plugin that needs nothing of the configuration can take
/// `cluster::master_api&` and be compiled once.
class master_api {
 public:
  //=== operations ===//

  /// Starts `n` more workers with the next ids; a negative `n` stops the `-n` highest ids
  /// gracefully and does not replace them. Ignored once a shutdown has begun.
  void spawn(int n) { core_->spawn(n); }
  /// Graceful shutdown: workers stop accepting, finish what they serve and exit; a worker still
  /// running `timeout` later is killed. The master exits when every worker is gone.
  void close() { core_->close(); }
  /// Hard shutdown: every worker is killed (SIGKILL) and the master exits.
  void destroy() { core_->destroy(); }
  /// Sends `signal` to every worker. Workers that die of it are replaced while `active` (their
  /// `worker_killed` says `killed`, not `crashed`).
  void kill(int signal = SIGTERM) { core_->kill(signal); }
  /// Sends `signal` to the worker with `id` (the one not stopping): its pid, or 0 when there is
  /// no such worker. A worker that dies of it is replaced while `active`, and its
  /// `worker_killed` says `killed`, not `crashed`.
  int kill_worker(unsigned id, int signal = SIGTERM) { return core_->kill_worker(id, signal); }
  /// Master restart without downtime: a new master, started from the executable on disk, takes
  /// over the sockets and the state plugins put in `restarting`; this master then stops as if it
  /// had received `stop_signal` (0: gracefully). See docs/restart.md.
  void restart(int stop_signal = 0) { core_->restart(stop_signal); }
  /// Rolling restart: every worker replaced in place, the replacement accepting before the old
  /// one stops.
  void restart_workers() { core_->restart_workers(); }
  /// Delivers `event` to every plugin (the reload plugin says what it reloads, for the logger
  /// and debug to show).
  void announce(events::reload const& event) { core_->announce(event); }
  /// Has every plugin reopen its files (event `reopen`), in the master, then in each worker.
  void reopen_logs() { core_->reopen_logs(); }
  /// Marks `fd` (a socket or file a plugin opened in the master) as the master's alone: each
  /// worker closes it right after the fork, so that a worker never holds it open (a client of a
  /// control socket then sees end-of-file when the master exits, not when its last worker does).
  /// Call `release_to_workers(fd)` before closing it.
  void keep_from_workers(int fd) { core_->keep_from_workers(fd); }
  /// Forgets `fd` (see `keep_from_workers`): to be called before it is closed, since its number
  /// may be reused for a descriptor that workers need.
  void release_to_workers(int fd) { core_->release_to_workers(fd); }

  //=== observers ===//

  [[nodiscard]] master_state state() const noexcept { return core_->state(); }
  /// The number of worker processes alive now, stopping ones included.
  [[nodiscard]] std::size_t worker_count() const noexcept { return core_->worker_count(); }
  /// The live worker processes, by id (a rolling restart has two with one id for a while).
  [[nodiscard]] std::vector<worker_info> workers() const { return core_->workers(); }
  /// The ids whose replacement waits out a crash loop's delay, by id.
  [[nodiscard]] std::vector<waiting_info> waiting() const { return core_->waiting(); }
  /// The pids of the live workers, ordered by worker id.
  [[nodiscard]] std::vector<int> pids() const { return core_->pids(); }
  /// The pid of the worker with `id` that is not stopping, or 0.
  [[nodiscard]] int pid_of(unsigned id) const noexcept { return core_->pid_of(id); }
  /// What the worker `pid` wrote in its scoreboard slot (heartbeat, connections, requests), or
  /// nothing for a pid that is not a live worker with a slot. A read of shared memory.
  [[nodiscard]] std::optional<ipc::slot_snapshot> counters_of(int pid) const noexcept {
    return core_->counters_of(pid);
  }
  /// The user and group ids workers run as (`user` / `group`): a plugin creating files that
  /// workers write gives them to that user. `change` is false when workers keep the master's.
  [[nodiscard]] os::credentials const& worker_credentials() const noexcept {
    return core_->worker_credentials();
  }
  /// The environment the configuration was resolved for (`CLUSTER_ENV`).
  [[nodiscard]] std::string_view environment() const noexcept { return core_->environment(); }
  /// The resolved built-in settings.
  [[nodiscard]] core_settings const& settings() const noexcept { return core_->settings(); }
  /// The listeners as bound, by name (`127.0.0.1:8080`, `[::]:80`, `unix:/run/app.sock`).
  [[nodiscard]] std::vector<std::string> addresses() const { return core_->addresses(); }
  /// True when this master was started by a previous one (`restart()`), whose state it received.
  [[nodiscard]] bool restarted() const noexcept { return core_->restarted(); }
  /// The executable a master restart runs (the path the master was started from, resolved at
  /// start: a new build renamed over it is what runs next).
  [[nodiscard]] std::string_view executable() const noexcept { return core_->executable(); }
  /// The master's command line as it was started (`argv`, before the title was written over it).
  [[nodiscard]] std::vector<std::string> const& command_line() const noexcept {
    return core_->command_line();
  }
  /// The directory the master was started in (before `working directory` moved it).
  [[nodiscard]] std::string_view start_directory() const noexcept {
    return core_->start_directory();
  }
  /// Every file and directory the cluster itself writes, as absolute paths once the master has
  /// started: the plugins' (their `written_paths()`: log and pid file directories), the unix
  /// sockets it listens on, the control socket. What a watcher of the program's files leaves
  /// out, so that the cluster writing its own files never reads as a change.
  [[nodiscard]] std::vector<std::string> written_paths() const { return core_->written_paths(); }
  /// The master's event loop, for plugins that add timers or sockets of their own.
  [[nodiscard]] boost::asio::io_context& io() noexcept { return core_->io(); }

 protected:
  explicit master_api(detail::master_ops* core) noexcept : core_(core) {}

 private:
  detail::master_ops* core_;
};

namespace detail {

template <class Plugin, class List>
inline constexpr bool lists_plugin = false;
template <class Plugin, class... Ps>
inline constexpr bool lists_plugin<Plugin, type_list<Ps...>> = (std::same_as<Plugin, Ps> || ...);

/// True when `Self`'s hooks may reach plugin `P`: its own type, or one it declares in
/// `requires_plugins` or `optional_plugins`. `void` stands for the user's own code (`.do_`
/// actions), which may reach every plugin.
template <class Self, class P>
inline constexpr bool may_reach = std::is_void_v<Self> || std::same_as<Self, P> ||
                                  lists_plugin<P, typename required_plugins_of<Self>::type> ||
                                  lists_plugin<P, typename optional_plugins_of<Self>::type>;

}  // namespace detail

/// What the hooks of plugin `Self` receive as `master` in a configuration `Config`: the contract
/// (`master_api`), the configuration's settings (`get<"key">()`, the plugin's own keys included)
/// and the plugins `Self` requires (`plugin<P>()`).
template <class Config, class Self>
class plugin_master : public master_api {
 public:
  plugin_master(detail::master_ops& core, Config& config) noexcept
      : master_api(&core), config_(&config) {}

  /// The value of setting `Key` in this environment; resolved at compile time.
  template <fixed_string Key>
  [[nodiscard]] decltype(auto) get() const {
    return config_->template get<Key>();
  }

  /// The instance of plugin `P`, which this plugin must require (`requires_plugins`), or list
  /// in `optional_plugins` and find used (`uses<P>`).
  template <class P>
  [[nodiscard]] P& plugin() const noexcept {
    static_assert(detail::may_reach<Self, P>,
                  "cluster: a plugin reaches only the plugins it requires; add the plugin to its "
                  "`using requires_plugins = cluster::type_list<...>;`");
    return config_->template plugin<P>();
  }

  /// True when this environment uses plugin `P`: for a plugin listed in `optional_plugins`
  /// (`using optional_plugins = cluster::type_list<...>;`), which works with or without it.
  template <class P>
  static constexpr bool uses = Config::template has_plugin<P>;

 private:
  Config* config_;
};

/// What a type must offer to be a hook's `master`: the operations and observers of
/// `master_api`, `get<"key">()` and `plugin<P>()`. `cluster::master_archetype` models exactly this
/// and nothing more; every bundled plugin is compiled against it.
template <class M>
concept master_like = std::derived_from<M, master_api> && requires(M& m, M const& c) {
  {c.template get<"workers">()};
};

/// A master with the contract and nothing else, for checking a plugin without a configuration:
/// `cluster::dispatch(event, archetype, plugin)` compiles exactly when the plugin asks nothing
/// of the master beyond the contract. Never run.
class master_archetype : public master_api {
 public:
  master_archetype() noexcept : master_api(nullptr) {}

  template <fixed_string Key>
  [[nodiscard]] typename setting<Key>::value_type get() const {
    return {};
  }

  /// Declared only: the archetype is compiled against, never run, so no plugin is ever returned.
  template <class P>
  [[nodiscard]] P& plugin() const noexcept;

  /// The archetype uses no plugin.
  template <class P>
  static constexpr bool uses = false;
};

}  // namespace cluster
