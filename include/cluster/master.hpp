// SPDX-License-Identifier: BSL-1.0
// The master process: binds the listeners, forks and supervises the workers, handles signals.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/config/fixed_string.hpp>
#include <cluster/events.hpp>
#include <cluster/ipc/channel.hpp>
#include <cluster/os/credentials.hpp>
#include <cluster/os/fd.hpp>
#include <cluster/os/listen.hpp>
#include <cluster/os/process.hpp>
#include <cluster/os/startup_error.hpp>
#include <cluster/os/title.hpp>
#include <cluster/worker.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cluster {

/// Where the master is in its life (SPEC: `active`, `graceful shutdown`, `hard shutdown`).
enum class master_state : std::uint8_t { active, graceful_shutdown, hard_shutdown };

/// What a signal to the master asks it to do.
enum class master_action : std::uint8_t {
  none,               ///< ignore the signal
  graceful_shutdown,  ///< `close()`
  hard_shutdown,      ///< `destroy()`
  restart,            ///< `restart()`: replace the master without downtime
  add_worker,         ///< `spawn(1)`
  remove_worker,      ///< `spawn(-1)`
};

/// The slot of the signal policy: a plugin with `using policy_slot = cluster::signals_slot;`
/// decides what each signal to the master means. At most one per environment.
struct signals_slot {};

/// The signal policy of the SPEC, used when no plugin fills `signals_slot`: SIGINT and SIGTERM
/// stop hard, SIGQUIT gracefully, SIGTTIN / SIGTTOU add / remove a worker, SIGUSR2 restarts.
///
/// A signal policy is a plugin type with `using policy_slot = cluster::signals_slot;`,
/// `static constexpr master_action action(int signal)` and `static constexpr std::array
/// signals`, the signals the master listens to. SIGCHLD is always handled (it reaps workers) and
/// is not part of the policy.
struct default_signals {
  static constexpr fixed_string name = "default signals";
  using policy_slot = signals_slot;
  static constexpr std::array signals{SIGINT, SIGTERM, SIGQUIT, SIGUSR2, SIGTTIN, SIGTTOU};
  static constexpr master_action action(int signal) noexcept {
    switch (signal) {
      case SIGINT:
      case SIGTERM:
        return master_action::hard_shutdown;
      case SIGQUIT:
        return master_action::graceful_shutdown;
      case SIGUSR2:
        return master_action::restart;
      case SIGTTIN:
        return master_action::add_worker;
      case SIGTTOU:
        return master_action::remove_worker;
      default:
        return master_action::none;
    }
  }
};

/// For container platforms, which send SIGTERM and expect a graceful stop within a grace period:
/// SIGTERM and SIGQUIT stop gracefully, SIGINT stops hard.
///
/// Example: `.in<"production">().use(cluster::container_signals{})`
struct container_signals {
  static constexpr fixed_string name = "container signals";
  using policy_slot = signals_slot;
  static constexpr std::array signals = default_signals::signals;
  static constexpr master_action action(int signal) noexcept {
    return signal == SIGTERM ? master_action::graceful_shutdown : default_signals::action(signal);
  }
};

namespace detail {

/// The signal policy of `Config`: the plugin in its `signals_slot`, else `default_signals`.
template <class Config>
struct signal_policy_of {
  using type = default_signals;
};
template <class Config>
requires requires { typename Config::template slot_type<signals_slot, default_signals>; }
struct signal_policy_of<Config> {
  using type = typename Config::template slot_type<signals_slot, default_signals>;
};

/// Counts worker deaths in a sliding window: `limit` deaths within `window` is too many.
///
/// Which deaths count is the supervisor's decision (see `supervisor::exited`).
class crash_guard {
 public:
  using clock = std::chrono::steady_clock;

  explicit crash_guard(std::size_t limit = 20,
                       clock::duration window = std::chrono::seconds(20)) noexcept
      : limit_(limit), window_(window) {}

  /// Records a death at `now`; true when the application should be given up as broken.
  bool record(clock::time_point now) {
    deaths_.push_back(now);
    while (!deaths_.empty() && now - deaths_.front() > window_) deaths_.pop_front();
    return deaths_.size() >= limit_;
  }

  [[nodiscard]] std::size_t limit() const noexcept { return limit_; }
  [[nodiscard]] clock::duration window() const noexcept { return window_; }

 private:
  std::size_t limit_;
  clock::duration window_;
  std::deque<clock::time_point> deaths_;
};

/// Describes how a worker ended, for messages: `exit code 3`, `signal 9 (Killed)`.
inline std::string describe_exit(os::exit_status const& s) {
  if (s.signal != 0) {
    char const* name = ::strsignal(s.signal);
    return "signal " + std::to_string(s.signal) + " (" + (name ? name : "?") + ")";
  }
  return "exit code " + std::to_string(s.code);
}

/// The master's decisions (which ids to start, whom to stop, whom to kill, what a death means),
/// apart from the system calls that carry them out, so that they can be tested on a simulated
/// clock with simulated process events.
class supervisor {
 public:
  using clock = std::chrono::steady_clock;

  /// One live worker process.
  struct entry {
    unsigned id = 0;
    int pid = 0;
    bool stopping = false;  ///< asked to stop gracefully; not replaced when it exits
    bool overdue = false;   ///< overran `timeout` while stopping and was given up to SIGKILL
    clock::time_point spawned_at{};
    clock::time_point stop_requested{};  ///< when it was asked to stop (if `stopping`)
    std::string last_error;              ///< the last exception it reported
    bool connected = false;              ///< it reported that it accepts (or runs its job)
  };

  /// What a worker's exit means.
  enum class outcome : std::uint8_t {
    unknown,        ///< not one of ours (a child a plugin started)
    replace,        ///< start a worker with the same id now
    removed,        ///< it was stopped on purpose: do not replace it
    shutting_down,  ///< a shutdown is under way: do not replace it
    give_up,        ///< too many deaths too fast: the application is broken
  };

  /// What to do with a worker that has just been forked.
  enum class verdict : std::uint8_t {
    keep,  ///< it is wanted: let it run
    stop,  ///< no longer wanted (a shutdown or a shrink came first): stop it gracefully now
    kill,  ///< a hard shutdown came first: kill it now
  };

  /// A supervisor whose master started at `boot`, and which gives a stopping worker `timeout` to
  /// exit before it must be killed.
  explicit supervisor(clock::time_point boot = clock::now(), crash_guard guard = crash_guard{},
                      clock::duration timeout = std::chrono::seconds(60))
      : guard_(std::move(guard)), boot_(boot), timeout_(timeout) {}

  [[nodiscard]] master_state state() const noexcept { return state_; }
  /// Ids 0..target()-1 are wanted.
  [[nodiscard]] unsigned target() const noexcept { return target_; }
  [[nodiscard]] std::map<int, entry> const& workers() const noexcept { return workers_; }
  [[nodiscard]] crash_guard const& guard() const noexcept { return guard_; }
  /// How long a stopping worker may take to exit.
  [[nodiscard]] clock::duration timeout() const noexcept { return timeout_; }

  /// The entry of `pid`, or null.
  entry* find(int pid) {
    auto it = workers_.find(pid);
    return it == workers_.end() ? nullptr : &it->second;
  }

  /// Wants `n` more workers: the ids to start, the next ones after the current target.
  std::vector<unsigned> grow(unsigned n) {
    std::vector<unsigned> ids;
    if (state_ != master_state::active) return ids;
    for (; n > 0; --n) ids.push_back(target_++);
    return ids;
  }

  /// Wants `n` fewer workers at `now`: the pids to stop gracefully (the highest ids), now marked
  /// stopping. Ignored once a shutdown has begun: every worker is stopping then anyway.
  std::vector<int> shrink(unsigned n, clock::time_point now) {
    std::vector<int> pids;
    if (state_ != master_state::active) return pids;
    for (; n > 0 && target_ > 0; --n) {
      unsigned const id = --target_;
      for (auto& [pid, w] : workers_) {
        if (w.id == id && stop(w, now)) pids.push_back(pid);
      }
    }
    return pids;
  }

  /// True when a worker with `id` should be started now: the master is active, `id` is wanted
  /// and no running worker has it. Asked before replacing a dead worker, since something (a
  /// plugin reacting to the death) may have shrunk the cluster or begun a shutdown meanwhile.
  [[nodiscard]] bool wants(unsigned id) const noexcept {
    if (state_ != master_state::active || id >= target_) return false;
    return std::none_of(workers_.begin(), workers_.end(),
                        [id](auto const& p) { return p.second.id == id && !p.second.stopping; });
  }

  /// Records a worker the master has just forked at `now`, and says what to do with it: a
  /// shutdown or a shrink that came while it was being forked means it is not wanted any more.
  verdict started(unsigned id, int pid, clock::time_point now) {
    entry& w = workers_[pid];
    w.id = id;
    w.pid = pid;
    w.spawned_at = now;
    if (state_ == master_state::hard_shutdown) return verdict::kill;
    if (state_ == master_state::graceful_shutdown || id >= target_) {
      stop(w, now);
      return verdict::stop;
    }
    return verdict::keep;
  }

  /// Records that `pid` reported it is up.
  void connected(int pid) {
    if (entry* w = find(pid)) w->connected = true;
  }

  /// Records that `pid` exited at `now`; `out` receives its entry (when it was ours).
  ///
  /// A death counts towards giving up when it happens in the first `window` after boot (the
  /// original's rule: 20 deaths in the first 20 seconds) or when the worker never came up (its
  /// server cannot even be built). Later deaths of workers that were serving are always replaced:
  /// a request that crashes its worker must not let a client stop the whole service.
  outcome exited(int pid, clock::time_point now, entry& out) {
    auto it = workers_.find(pid);
    if (it == workers_.end()) return outcome::unknown;
    out = std::move(it->second);
    workers_.erase(it);
    if (state_ != master_state::active) return outcome::shutting_down;
    if (out.stopping || out.id >= target_) return outcome::removed;
    bool const counts = !out.connected || now - boot_ < guard_.window();
    if (counts && guard_.record(now)) return outcome::give_up;
    return outcome::replace;
  }

  /// Starts a graceful shutdown at `now`: the pids to stop (now marked stopping); none if one
  /// has begun. Workers already stopping keep their deadline.
  std::vector<int> begin_graceful(clock::time_point now) {
    std::vector<int> pids;
    if (state_ != master_state::active) return pids;
    state_ = master_state::graceful_shutdown;
    for (auto& [pid, w] : workers_) {
      if (stop(w, now)) pids.push_back(pid);
    }
    return pids;
  }

  /// The stopping workers that have not exited `timeout` after they were asked to: the pids to
  /// kill now, each returned once. None during a hard shutdown, which kills everyone anyway.
  std::vector<int> overdue(clock::time_point now) {
    std::vector<int> pids;
    if (state_ == master_state::hard_shutdown) return pids;
    for (auto& [pid, w] : workers_) {
      if (w.stopping && !w.overdue && now - w.stop_requested >= timeout_) {
        w.overdue = true;
        pids.push_back(pid);
      }
    }
    return pids;
  }

  /// When `overdue` will next have a worker to return, if any worker is stopping.
  [[nodiscard]] std::optional<clock::time_point> next_deadline() const {
    std::optional<clock::time_point> next;
    if (state_ == master_state::hard_shutdown) return next;
    for (auto const& [pid, w] : workers_) {
      if (!w.stopping || w.overdue) continue;
      auto const at = w.stop_requested + timeout_;
      if (!next || at < *next) next = at;
    }
    return next;
  }

  /// Starts a hard shutdown; false if one has already begun.
  bool begin_hard() {
    if (state_ == master_state::hard_shutdown) return false;
    state_ = master_state::hard_shutdown;
    return true;
  }

  /// True once a shutdown has begun and every worker is gone.
  [[nodiscard]] bool finished() const noexcept {
    return state_ != master_state::active && workers_.empty();
  }

 private:
  /// Marks `w` stopping from `now`; false if it already was (its first deadline stands).
  static bool stop(entry& w, clock::time_point now) {
    if (w.stopping) return false;
    w.stopping = true;
    w.stop_requested = now;
    return true;
  }

  crash_guard guard_;
  clock::time_point boot_;
  clock::duration timeout_;
  std::map<int, entry> workers_;
  unsigned target_ = 0;
  master_state state_ = master_state::active;
};

}  // namespace detail

/// The master process of a cluster, for one resolved configuration.
///
/// Single-threaded: one `io_context` runs signals, timers and the worker channels, which keeps
/// fork() safe. Plugins receive it in `on(event, master)` and may call its public operations.
template <class Config>
class master {
  using signal_policy = typename detail::signal_policy_of<Config>::type;
  using clock = std::chrono::steady_clock;
  using outcome = detail::supervisor::outcome;

  /// The master's side of one worker: its channel.
  struct link {
    std::unique_ptr<boost::asio::posix::stream_descriptor> channel;
  };

 public:
  /// A master for `cfg`, which must outlive it. Nothing happens until `run()`.
  explicit master(Config& cfg) : cfg_(cfg), signals_(io_), deadline_(io_) {}

  master(master const&) = delete;
  master& operator=(master const&) = delete;

  /// Runs the cluster until it shuts down; returns the exit status for `main`.
  ///
  /// Binds every listener, runs the user's actions, forks `workers` workers and supervises them.
  /// Errors: a listener that cannot be bound, an unknown user, and the like print one line
  /// `cluster: ...` on stderr and return 1 before any worker is forked. Workers that keep dying
  /// right after they start stop the master with a message and status 1.
  int run() {
    try {
      start();
    } catch (startup_error const& e) {
      std::fprintf(stderr, "%s\n", e.what());
      remove_unix_sockets();
      return 1;
    } catch (std::exception const& e) {
      std::fprintf(stderr, "cluster: cannot start: %s\n", e.what());
      remove_unix_sockets();
      return 1;
    }
    spawn(static_cast<int>(cfg_.settings().workers));
    if (!finished_) io_.run();
    remove_unix_sockets();
    return exit_status_;
  }

  //=== operations ===//

  /// Starts `n` more workers with the next ids; a negative `n` stops the `-n` highest ids
  /// gracefully and does not replace them. Ignored once a shutdown has begun.
  void spawn(int n) {
    if (n > 0) {
      for (unsigned id : sup_.grow(static_cast<unsigned>(n))) spawn_worker(id);
    } else if (n < 0) {
      auto const now = clock::now();
      for (int pid : sup_.shrink(static_cast<unsigned>(-n), now)) stop_worker(pid);
    }
  }

  /// Graceful shutdown: workers stop accepting, finish what they serve and exit; a worker still
  /// running `timeout` later is killed. The master exits when every worker is gone.
  void close() {
    if (sup_.state() != master_state::active) return;
    auto const now = clock::now();
    auto const pids = sup_.begin_graceful(now);
    cfg_.emit(events::closing{true}, *this);
    for (int pid : pids) stop_worker(pid);
    finish_if_done();
  }

  /// Hard shutdown: every worker is killed (SIGKILL) and the master exits.
  void destroy() {
    if (!sup_.begin_hard()) return;
    cfg_.emit(events::closing{false}, *this);
    kill(SIGKILL);
    finish_if_done();
  }

  /// Sends `signal` to every worker. Workers that die of it are replaced while `active`.
  void kill(int signal = SIGTERM) {
    cfg_.emit(events::kill{signal}, *this);
    for (auto const& [pid, w] : sup_.workers()) ::kill(pid, signal);
  }

  //=== observers ===//

  [[nodiscard]] master_state state() const noexcept { return sup_.state(); }

  /// The number of worker processes alive now, stopping ones included.
  [[nodiscard]] std::size_t worker_count() const noexcept { return sup_.workers().size(); }

  /// The pids of the live workers, ordered by worker id.
  [[nodiscard]] std::vector<int> pids() const {
    std::vector<std::pair<unsigned, int>> by_id;
    for (auto const& [pid, w] : sup_.workers()) by_id.emplace_back(w.id, pid);
    std::sort(by_id.begin(), by_id.end());
    std::vector<int> out;
    for (auto const& p : by_id) out.push_back(p.second);
    return out;
  }

  /// The pid of the worker with `id` that is not stopping, or 0.
  [[nodiscard]] int pid_of(unsigned id) const noexcept {
    for (auto const& [pid, w] : sup_.workers()) {
      if (w.id == id && !w.stopping) return pid;
    }
    return 0;
  }

  /// The environment the configuration was resolved for (`CLUSTER_ENV`).
  [[nodiscard]] std::string_view environment() const { return cfg_.environment(); }

  /// The resolved built-in settings.
  [[nodiscard]] core_settings const& settings() const { return cfg_.settings(); }

  /// The configuration this master runs.
  [[nodiscard]] Config& config() noexcept { return cfg_; }

  /// The listeners as bound, by name (`127.0.0.1:8080`, `[::]:80`, `unix:/run/app.sock`), in
  /// `listen` order.
  [[nodiscard]] std::vector<std::string> addresses() const {
    std::vector<std::string> out;
    for (auto const& l : listeners_) out.push_back(l.name);
    return out;
  }

  /// The master's event loop, for plugins that add timers or sockets of their own.
  [[nodiscard]] boost::asio::io_context& io() noexcept { return io_; }

 private:
  //=== start-up ===//

  void start() {
    // An inherited CLUSTER_WORKER (a worker running another cluster program) would make this
    // master believe it is a worker.
    ::unsetenv("CLUSTER_WORKER");
    core_settings const& s = cfg_.settings();
    sup_ = detail::supervisor(clock::now(), detail::crash_guard{}, s.timeout);
    cfg_.emit(events::start{}, *this);
    credentials_ = os::resolve_credentials(s.user, s.group);
    if (!s.working_directory.empty()) {
      std::string const dir(s.working_directory);
      if (::chdir(dir.c_str()) != 0) {
        throw startup_error("cluster: cannot change to working directory " + dir + ": " +
                            std::strerror(errno) +
                            "; set<\"working directory\"> to an existing one");
      }
    }
    // Sockets handed over by systemd (or a previous master) replace the configured listeners:
    // the service manager owns the addresses then, and connections queued on them are kept.
    listeners_ = os::inherited_listeners();
    bool const adopted = !listeners_.empty();
    // Otherwise bind everything before forking anything: a port in use is reported once, by the
    // master, and workers only ever inherit sockets that are already listening.
    for (endpoint const& ep : adopted ? std::span<endpoint const>{} : cfg_.listeners()) {
      listeners_.push_back(os::bind_listener(ep, s.backlog));
      auto& l = listeners_.back();
      if (!l.unix_path.empty()) {
        struct stat st {};
        if (::stat(l.unix_path.c_str(), &st) == 0) unix_inodes_.emplace_back(st.st_dev, st.st_ino);
      }
    }
    for (auto const& l : listeners_) {
      // A fixed, parseable line: with port 0 it is the only way to learn the port, and scripts
      // and tests wait for it instead of sleeping.
      std::fprintf(stderr, "cluster: listening on %s\n", l.name.c_str());
    }
    std::fflush(stderr);
    cfg_.emit(events::listening{}, *this);
    // Writing to a closed socket or pipe must be an error code in the master, never its death.
    ::signal(SIGPIPE, SIG_IGN);
    death_pipe_ = os::make_pipe();
    os::set_process_title(s.title);
    title_pattern_ = std::string(s.worker_title);
    for (int sig : signal_policy::signals) signals_.add(sig);
    signals_.add(SIGCHLD);
    wait_signal();
    cfg_.run_actions(*this);
  }

  //=== workers ===//

  void spawn_worker(unsigned id) {
    auto [master_end, worker_end] = ipc::make_channel();
    detail::worker_setup setup;
    setup.id = id;
    setup.master_pid = ::getpid();
    for (auto const& l : listeners_) setup.listener_fds.push_back(l.fd.get());
    setup.channel_fd = worker_end.get();
    setup.death_fd = death_pipe_.read.get();
    setup.credentials = credentials_;
    setup.title = detail::worker_title(title_pattern_, id);

    pid_t pid;
    {
      os::signal_block blocked;
      pid = ::fork();
      if (pid == 0) {
        os::reset_signals_in_child();
        // SIGTERM when the master dies, even by SIGKILL; if it already died, leave now.
        if (!os::follow_parent(setup.master_pid, SIGTERM)) os::exit_child(0);
        // Close the master's ends: the death pipe's write end (else EOF never comes), every
        // worker's channel (a worker must not hold its siblings' channels open) and our own.
        // These are raw close() calls on purpose: the master's Asio objects are never touched in
        // the child (see os::exit_child).
        ::close(death_pipe_.write.get());
        ::close(master_end.get());
        for (auto& [other, l] : links_) {
          if (l.channel) ::close(l.channel->native_handle());
        }
        os::exit_child(detail::run_worker(cfg_, setup));
      }
    }
    if (pid < 0) {
      std::fprintf(stderr, "cluster: cannot fork worker %u: %s\n", id, std::strerror(errno));
      give_up();
      return;
    }
    worker_end.reset();
    auto const now = clock::now();
    auto const verdict = sup_.started(id, pid, now);
    link& l = links_[pid];
    l.channel = std::make_unique<boost::asio::posix::stream_descriptor>(io_, master_end.release());
    watch_channel(pid);
    // A shutdown or a shrink may have come while this worker was decided on and forked (a plugin
    // reacting to an event): it must not be left running unsupervised.
    switch (verdict) {
      case detail::supervisor::verdict::keep:
        break;
      case detail::supervisor::verdict::stop:
        stop_worker(pid);
        break;
      case detail::supervisor::verdict::kill:
        ::kill(pid, SIGKILL);
        break;
    }
    cfg_.emit(events::worker_spawned{id, pid}, *this);
  }

  void watch_channel(int pid) {
    auto it = links_.find(pid);
    if (it == links_.end() || !it->second.channel) return;
    it->second.channel->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                                   [this, pid](boost::system::error_code ec) {
                                     if (ec) return;
                                     if (drain_channel(pid)) watch_channel(pid);
                                   });
  }

  /// Handles every message waiting on the worker's channel; false once the channel closed.
  bool drain_channel(int pid) {
    for (;;) {
      auto it = links_.find(pid);
      auto* w = sup_.find(pid);
      if (it == links_.end() || !it->second.channel || !w) return false;
      ipc::message m;
      switch (ipc::receive(it->second.channel->native_handle(), m)) {
        case ipc::receive_status::empty:
          return true;
        case ipc::receive_status::closed:
          return false;
        case ipc::receive_status::message:
          break;
      }
      switch (m.type) {
        case ipc::message_type::connected:
          sup_.connected(pid);
          cfg_.emit(events::worker_connected{w->id, pid}, *this);
          break;
        case ipc::message_type::exception:
          w->last_error = m.text;
          cfg_.emit(events::worker_exception{w->id, pid, w->last_error}, *this);
          break;
        case ipc::message_type::waiting:
          cfg_.emit(events::worker_waiting{w->id, pid, m.value}, *this);
          break;
      }
    }
  }

  /// Asks `pid` to stop gracefully (SIGQUIT); its `timeout` runs from now.
  void stop_worker(int pid) {
    ::kill(pid, SIGQUIT);
    arm_deadline();
  }

  /// Sets the timer to the supervisor's next graceful-stop deadline. When it fires, whom to kill
  /// is the supervisor's decision; a worker that exited in time is simply not among them.
  void arm_deadline() {
    auto const next = sup_.next_deadline();
    if (!next) {
      deadline_.cancel();
      return;
    }
    deadline_.expires_at(*next);
    deadline_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      kill_overdue();
      arm_deadline();
    });
  }

  /// Kills every stopping worker that overran `timeout`: it will not finish on its own.
  void kill_overdue() {
    for (int pid : sup_.overdue(clock::now())) {
      auto const* w = sup_.find(pid);
      ::kill(pid, SIGKILL);
      cfg_.emit(events::worker_timeout{w->id, pid, cfg_.settings().timeout}, *this);
    }
  }

  void reap() {
    std::vector<int> candidates;
    for (auto const& [pid, w] : sup_.workers()) candidates.push_back(pid);
    for (int pid : candidates) {
      auto status = os::reap(pid);
      if (!status) continue;
      // Messages sent just before dying (the exception text) may still be queued.
      drain_channel(status->pid);
      // Destroying the descriptor cancels its pending wait.
      links_.erase(status->pid);
      detail::supervisor::entry w;
      outcome const what = sup_.exited(status->pid, clock::now(), w);
      cfg_.emit(events::worker_killed{w.id, w.pid, status->code, status->signal}, *this);
      switch (what) {
        case outcome::unknown:
        case outcome::shutting_down:
          break;
        case outcome::removed:
          cfg_.emit(events::worker_removed{w.id, w.pid}, *this);
          break;
        case outcome::replace:
          // The same id, at once: the worker count is maintained whatever killed the worker. A
          // plugin handling worker_killed may have shrunk the cluster or stopped it meanwhile.
          if (sup_.wants(w.id)) spawn_worker(w.id);
          break;
        case outcome::give_up: {
          auto const& guard = sup_.guard();
          std::string const why = w.last_error.empty()
                                      ? "the last one ended with " + detail::describe_exit(*status)
                                      : "the last error was: " + w.last_error;
          std::fprintf(
              stderr,
              "cluster: workers keep dying (%zu deaths within %lld s), so the application looks "
              "broken; stopping. %s\n",
              guard.limit(),
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::seconds>(guard.window()).count()),
              why.c_str());
          give_up();
          break;
        }
      }
    }
    finish_if_done();
  }

  void give_up() {
    exit_status_ = 1;
    destroy();
  }

  void finish_if_done() {
    if (!sup_.finished() || finished_) return;
    finished_ = true;
    cfg_.emit(events::close{}, *this);
    io_.stop();
  }

  //=== signals ===//

  void wait_signal() {
    signals_.async_wait([this](boost::system::error_code ec, int sig) {
      if (ec) return;
      on_signal(sig);
      if (!finished_) wait_signal();
    });
  }

  void on_signal(int sig) {
    if (sig == SIGCHLD) {
      reap();
      return;
    }
    switch (signal_policy::action(sig)) {
      case master_action::none:
        break;
      case master_action::graceful_shutdown:
        close();
        break;
      case master_action::hard_shutdown:
        destroy();
        break;
      case master_action::add_worker:
        spawn(1);
        break;
      case master_action::remove_worker:
        spawn(-1);
        break;
      case master_action::restart:
        std::fprintf(stderr, "cluster: restart is not supported yet; signal %d ignored\n", sig);
        break;
    }
  }

  /// Removes the unix socket files this master created, if they are still the same files.
  void remove_unix_sockets() {
    std::size_t i = 0;
    for (auto const& l : listeners_) {
      if (l.unix_path.empty()) continue;
      struct stat st {};
      if (i < unix_inodes_.size() && ::stat(l.unix_path.c_str(), &st) == 0 &&
          st.st_dev == unix_inodes_[i].first && st.st_ino == unix_inodes_[i].second) {
        ::unlink(l.unix_path.c_str());
      }
      ++i;
    }
  }

  Config& cfg_;
  boost::asio::io_context io_{1};
  boost::asio::signal_set signals_;
  boost::asio::steady_timer deadline_;  ///< the next graceful-stop deadline, if any
  std::vector<os::listener> listeners_;
  std::vector<std::pair<dev_t, ino_t>> unix_inodes_;
  os::pipe_ends death_pipe_;
  os::credentials credentials_;
  std::string title_pattern_;
  detail::supervisor sup_;
  std::map<int, link> links_;
  int exit_status_ = 0;
  bool finished_ = false;
};

}  // namespace cluster
