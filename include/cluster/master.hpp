// SPDX-License-Identifier: BSL-1.0
// The master process: binds the listeners, forks and supervises the workers, handles signals.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/config/fixed_string.hpp>
#include <cluster/detail/restart.hpp>
#include <cluster/events.hpp>
#include <cluster/ipc/channel.hpp>
#include <cluster/ipc/scoreboard.hpp>
#include <cluster/os/credentials.hpp>
#include <cluster/os/fd.hpp>
#include <cluster/os/listen.hpp>
#include <cluster/os/notify.hpp>
#include <cluster/os/process.hpp>
#include <cluster/os/startup_error.hpp>
#include <cluster/os/successor.hpp>
#include <cluster/os/title.hpp>
#include <cluster/restart_state.hpp>
#include <cluster/worker.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

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
  restart_workers,    ///< `restart_workers()`: replace every worker in place, one at a time
  add_worker,         ///< `spawn(1)`
  remove_worker,      ///< `spawn(-1)`
  reopen_logs,        ///< `reopen_logs()`: plugins reopen their files (after logrotate)
};

/// The slot of the signal policy: a plugin with `using policy_slot = cluster::signals_slot;`
/// decides what each signal to the master means. At most one per environment.
struct signals_slot {};

/// The signal policy of the SPEC, used when no plugin fills `signals_slot`: SIGINT and SIGTERM
/// stop hard, SIGQUIT gracefully, SIGTTIN / SIGTTOU add / remove a worker, SIGUSR2 restarts the
/// master (a new build on disk takes over), SIGHUP restarts the workers in place, SIGUSR1 has
/// the plugins reopen their log files.
///
/// A signal policy is a plugin type with `using policy_slot = cluster::signals_slot;`,
/// `static constexpr master_action action(int signal)` and `static constexpr std::array
/// signals`, the signals the master listens to. SIGCHLD is always handled (it reaps workers) and
/// is not part of the policy.
struct default_signals {
  static constexpr fixed_string name = "default signals";
  using policy_slot = signals_slot;
  static constexpr std::array signals{SIGINT,  SIGTERM, SIGQUIT, SIGUSR2,
                                      SIGHUP,  SIGTTIN, SIGTTOU, SIGUSR1};
  static constexpr master_action action(int signal) noexcept {
    switch (signal) {
      case SIGINT:
      case SIGTERM:
        return master_action::hard_shutdown;
      case SIGQUIT:
        return master_action::graceful_shutdown;
      case SIGUSR2:
        return master_action::restart;
      case SIGHUP:
        return master_action::restart_workers;
      case SIGTTIN:
        return master_action::add_worker;
      case SIGTTOU:
        return master_action::remove_worker;
      case SIGUSR1:
        return master_action::reopen_logs;
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

/// The state of a rolling restart (see `supervisor::begin_roll`): the ids left, and the slot being
/// replaced.
struct roll_state {
  std::deque<unsigned> pending;
  bool current = false;  ///< a slot is being replaced: `id`, `old_pid` -> `new_pid`
  unsigned id = 0;
  int old_pid = 0;
  int new_pid = 0;     ///< 0 until the replacement is started
  int failed_pid = 0;  ///< the replacement died before it accepted
  bool again = false;  ///< asked again meanwhile: one more pass at the end
  unsigned replaced = 0;
};

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

  /// Where a rolling restart stands, and what the master must do for it now (see `roll_step`).
  struct roll_action {
    enum class status : std::uint8_t {
      idle,     ///< no rolling restart is under way
      waiting,  ///< a replacement is starting: wait for it to accept (or to die)
      done,     ///< every worker has been replaced
      failed,   ///< a replacement died before it accepted: the old workers keep serving
    };
    status what = status::idle;
    std::vector<int> stop;          ///< old workers whose replacement accepts: stop them gracefully
    std::optional<unsigned> spawn;  ///< start a replacement with this id now
    unsigned replaced = 0;          ///< with `done`: how many workers were replaced
    int failed_pid = 0;             ///< with `failed`: the replacement that died
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
    if (roll_ && roll_->new_pid == 0 && roll_->id == id) roll_->new_pid = pid;
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
    // The replacement of a rolling restart died before it accepted: the new code (or whatever
    // the workers load at start) is broken, and the worker it was to replace keeps its slot.
    if (roll_ && roll_->new_pid == pid && !out.connected && !out.stopping) roll_->failed_pid = pid;
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
    roll_.reset();
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
    roll_.reset();
    return true;
  }

  /// True once a shutdown has begun and every worker is gone.
  [[nodiscard]] bool finished() const noexcept {
    return state_ != master_state::active && workers_.empty();
  }

  /// True when every wanted id has a worker that is not stopping and reported that it accepts.
  [[nodiscard]] bool all_connected() const noexcept {
    if (state_ != master_state::active) return false;
    for (unsigned id = 0; id < target_; ++id) {
      if (!std::any_of(workers_.begin(), workers_.end(), [id](auto const& p) {
            return p.second.id == id && !p.second.stopping && p.second.connected;
          }))
        return false;
    }
    return true;
  }

  //=== rolling restart ===//

  /// Asks for every worker to be replaced in place, one id at a time: the replacement is started,
  /// and only once it accepts is the old worker stopped gracefully, so capacity never drops.
  /// A request during a rolling restart makes it run once more when it ends (whatever changed on
  /// disk since the first request is then loaded by every worker). Ignored unless active; false
  /// then. Follow with `roll_step`.
  bool begin_roll() {
    if (state_ != master_state::active) return false;
    if (roll_) {
      roll_->again = true;
      return true;
    }
    roll_.emplace();
    for (unsigned id = 0; id < target_; ++id) roll_->pending.push_back(id);
    return true;
  }

  [[nodiscard]] bool rolling() const noexcept { return roll_.has_value(); }

  /// What the rolling restart needs now. The master calls it after `begin_roll` and after every
  /// change it may be waiting for (a worker started, connected or exited), and carries it out.
  roll_action roll_step(clock::time_point now) {
    roll_action act;
    using status = roll_action::status;
    if (!roll_) return act;
    if (state_ != master_state::active) {
      roll_.reset();
      return act;
    }
    if (roll_->failed_pid != 0) {
      act.what = status::failed;
      act.failed_pid = roll_->failed_pid;
      roll_.reset();
      return act;
    }
    for (;;) {
      if (roll_->current) {
        if (roll_->new_pid == 0 && roll_->id < target_) {
          // Asked for but not started yet: the master forks it now.
          act.what = status::waiting;
          act.spawn = roll_->id;
          return act;
        }
        entry const* fresh = roll_->new_pid != 0 ? find(roll_->new_pid) : nullptr;
        if (fresh && !fresh->connected && !fresh->stopping) {
          act.what = status::waiting;  // the replacement is still starting
          return act;
        }
        // Only a replacement that accepts lets the old worker go. One that was removed meanwhile
        // (a shrink) or died after it accepted leaves the old worker serving its slot.
        if (fresh && fresh->connected && !fresh->stopping) {
          if (entry* old = find(roll_->old_pid); old && stop(*old, now)) {
            act.stop.push_back(roll_->old_pid);
          }
          ++roll_->replaced;
        }
        roll_->current = false;
      }
      // The next id that still has a worker to replace (a shrink may have removed some).
      while (!roll_->pending.empty()) {
        unsigned const id = roll_->pending.front();
        roll_->pending.pop_front();
        if (id >= target_) continue;
        auto it = std::find_if(workers_.begin(), workers_.end(), [id](auto const& p) {
          return p.second.id == id && !p.second.stopping;
        });
        if (it == workers_.end()) continue;
        roll_->current = true;
        roll_->id = id;
        roll_->old_pid = it->first;
        roll_->new_pid = 0;
        act.what = status::waiting;
        act.spawn = id;
        return act;
      }
      if (roll_->again) {
        roll_->again = false;
        for (unsigned id = 0; id < target_; ++id) roll_->pending.push_back(id);
        continue;
      }
      act.what = status::done;
      act.replaced = roll_->replaced;
      roll_.reset();
      return act;
    }
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
  std::optional<roll_state> roll_;
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
  using descriptor = boost::asio::posix::stream_descriptor;

  /// The master's side of one worker: its channel and its scoreboard slot.
  struct link {
    std::unique_ptr<descriptor> channel;
    std::optional<std::size_t> slot;
  };

  /// How long a heartbeat may be old for its worker to count as alive for the watchdog.
  static constexpr std::chrono::milliseconds stale_heartbeat{1000};
  /// Scoreboard slots: enough for any worker count a machine runs; beyond, workers have no slot
  /// (the watchdog then trusts their `connected` report).
  static constexpr std::size_t scoreboard_slots = 1024;

 public:
  /// A master for `cfg`, which must outlive it. Nothing happens until `run()`.
  explicit master(Config& cfg)
      : cfg_(cfg),
        signals_(io_),
        deadline_(io_),
        restart_delay_(io_),
        successor_(io_),
        predecessor_(io_),
        watchdog_(io_) {}

  master(master const&) = delete;
  master& operator=(master const&) = delete;

  /// Runs the cluster until it shuts down; returns the exit status for `main`.
  ///
  /// Binds every listener (or adopts those handed over by systemd or a previous master), runs the
  /// user's actions, forks `workers` workers and supervises them. Errors: a listener that cannot
  /// be bound, an unknown user, and the like print one line `cluster: ...` on stderr and return 1
  /// before any worker is forked. Workers that keep dying right after they start stop the master
  /// with a message and status 1.
  ///
  /// With `CLUSTER_PRINT_UNIT=service` (or `socket`) in the environment it starts nothing: it
  /// prints the systemd unit derived from this configuration (see docs/deployment.md) and
  /// returns 0; `CLUSTER_UNIT_NAME` names the unit (default: the executable's file name).
  int run() {
    if (char const* unit = std::getenv("CLUSTER_PRINT_UNIT"))
      return detail::print_unit<signal_policy>(unit, cfg_.settings(), cfg_.listeners());
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
      step_roll();
    }
  }

  /// Graceful shutdown: workers stop accepting, finish what they serve and exit; a worker still
  /// running `timeout` later is killed. The master exits when every worker is gone.
  void close() {
    if (sup_.state() != master_state::active) return;
    auto const now = clock::now();
    auto const pids = sup_.begin_graceful(now);
    abandon_successor();
    if (!handed_over_) notify("STOPPING=1\nSTATUS=stopping gracefully");
    cfg_.emit(events::closing{true}, *this);
    for (int pid : pids) stop_worker(pid);
    finish_if_done();
  }

  /// Hard shutdown: every worker is killed (SIGKILL) and the master exits.
  void destroy() {
    if (!sup_.begin_hard()) return;
    abandon_successor();
    if (!handed_over_) notify("STOPPING=1\nSTATUS=stopping");
    cfg_.emit(events::closing{false}, *this);
    kill(SIGKILL);
    finish_if_done();
  }

  /// Sends `signal` to every worker. Workers that die of it are replaced while `active`.
  void kill(int signal = SIGTERM) {
    cfg_.emit(events::kill{signal}, *this);
    for (auto const& [pid, w] : sup_.workers()) ::kill(pid, signal);
  }

  /// Master restart without downtime: starts a new master from the executable on disk (so a new
  /// build takes over), hands it the listening sockets and the state plugins put in
  /// `restarting`, and once the new master's workers all accept, stops this master as if it had
  /// received `stop_signal` (0: gracefully). Connections are never refused meanwhile.
  ///
  /// A restart requested less than `restart threshold` after the previous one is delayed by
  /// `restart timeout` (event `cyclic_restart`); requests during a restart or a delay join it. If
  /// the new master fails to start, or has not every worker accepting within `timeout`, it is
  /// stopped and this master keeps serving. Refused as PID 1: the container would end with it.
  void restart(int stop_signal = 0) {
    if (sup_.state() != master_state::active || handed_over_) return;
    if (::getpid() == 1) {
      std::fprintf(stderr,
                   "cluster: restart refused: this master is PID 1 (a container's init), and the "
                   "container would end with it; deploy a new image instead, or restart the "
                   "workers in place (SIGHUP)\n");
      return;
    }
    if (successor_.pending()) {
      std::fprintf(stderr, "cluster: a restart is already under way (new master %d); joined\n",
                   successor_.pid());
      return;
    }
    if (restart_delay_.pending()) return;
    auto const now = clock::now();
    auto const threshold = cfg_.settings().restart_threshold;
    if (last_restart_ && now - *last_restart_ < threshold) {
      auto const delay = cfg_.settings().restart_timeout;
      auto const ago = std::chrono::duration_cast<std::chrono::milliseconds>(now - *last_restart_);
      std::fprintf(stderr,
                   "cluster: cyclic restart: the last restart was %lld ms ago (restart threshold "
                   "%lld ms); restarting in %lld ms\n",
                   static_cast<long long>(ago.count()), static_cast<long long>(threshold.count()),
                   static_cast<long long>(delay.count()));
      restart_delay_.start(delay, [this, stop_signal] {
        if (sup_.state() == master_state::active && !handed_over_) begin_restart(stop_signal);
      });
      cfg_.emit(events::cyclic_restart{delay}, *this);
      return;
    }
    begin_restart(stop_signal);
  }

  /// Rolling restart: replaces every worker in place, one id at a time, starting the replacement
  /// and stopping the old worker (gracefully) only once the replacement accepts, so capacity
  /// never drops. A replacement that dies before accepting stops the rolling restart and the
  /// old workers keep serving. A request while one runs makes it run once more at the end.
  void restart_workers() {
    if (!sup_.begin_roll()) return;
    if (!rolling_notified_) {
      rolling_notified_ = true;
      notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(os::monotonic_usec()) +
             "\nSTATUS=restarting the workers");
    }
    step_roll();
  }

  /// Has every plugin reopen its files (event `reopen`), in the master, then in each worker
  /// (SIGUSR1 to it; the worker's plugins get `reopen` within a quarter of a second). What
  /// logrotate's `postrotate` asks for.
  void reopen_logs() {
    cfg_.emit(events::reopen{}, *this);
    for (auto const& [pid, w] : sup_.workers()) ::kill(pid, SIGUSR1);
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
    out.reserve(by_id.size());
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

  /// What the worker `pid` wrote in its scoreboard slot (heartbeat, connections, requests; the
  /// counters are kept by plugins such as `stats`), or nothing for a pid that is not a live
  /// worker with a slot. A read of shared memory: no system call.
  [[nodiscard]] std::optional<ipc::slot_snapshot> counters_of(int pid) const noexcept {
    auto it = links_.find(pid);
    if (it == links_.end() || !it->second.slot) return std::nullopt;
    return ipc::read(scoreboard_[*it->second.slot]);
  }

  /// The user and group ids workers run as (`user` / `group`): a plugin creating files that
  /// workers write gives them to that user. `change` is false when workers keep the master's.
  [[nodiscard]] os::credentials const& worker_credentials() const noexcept { return credentials_; }

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

  /// True when this master was started by a previous one (`restart()`), whose state it received.
  [[nodiscard]] bool restarted() const noexcept { return predecessor_.present() || took_over_; }

  /// The master's event loop, for plugins that add timers or sockets of their own.
  [[nodiscard]] boost::asio::io_context& io() noexcept { return io_; }

 private:
  //=== start-up ===//

  void start() {
    // An inherited CLUSTER_WORKER (a worker running another cluster program) would make this
    // master believe it is a worker.
    ::unsetenv("CLUSTER_WORKER");
    // What a successor needs, taken before anything changes it: the title is written over argv,
    // and the working directory setting moves us.
    executable_ = os::executable_path();
    command_ = os::command_line();
    start_directory_ = os::current_directory();
    notifier_ = os::notifier::from_environment();
    adopt_predecessor();
    // As PID 1 (a container's init), orphans of any descendant are re-parented to the master:
    // it must reap every child, not only its workers, or they pile up as zombies.
    reap_all_ = ::getpid() == 1;
    core_settings const& s = cfg_.settings();
    sup_ = detail::supervisor(clock::now(), detail::crash_guard{}, s.timeout);
    credentials_ = os::resolve_credentials(s.user, s.group);
    if (!s.working_directory.empty()) {
      std::string const dir(s.working_directory);
      if (::chdir(dir.c_str()) != 0) {
        throw startup_error("cluster: cannot change to working directory " + dir + ": " +
                            std::strerror(errno) +
                            "; set<\"working directory\"> to an existing one");
      }
    }
    // In the working directory, so that the relative paths plugins are given (a log directory)
    // mean the same as every other relative path. A plugin that cannot start (a missing
    // directory) throws `startup_error`: reported before anything is bound or forked.
    cfg_.emit(events::start{}, *this);
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
    scoreboard_ = ipc::scoreboard(scoreboard_slots);
    os::set_process_title(s.title);
    title_pattern_ = std::string(s.worker_title);
    for (int sig : signal_policy::signals) signals_.add(sig);
    signals_.add(SIGCHLD);
    wait_signal();
    if (predecessor_.present()) {
      predecessor_.watch([this](restart_state const& state) {
        took_over_ = true;
        cfg_.emit(events::restart{state}, *this);
        for (auto const& problem : state.problems()) std::fprintf(stderr, "%s\n", problem.c_str());
      });
    }
    // Keep-alives only while serving, and not before the predecessor is gone: until then it is
    // systemd's main process, and keep-alives from another pid would only be logged as refused.
    watchdog_.start(notifier_, [this] {
      return sup_.state() == master_state::active && !handed_over_ && !predecessor_.present() &&
             healthy();
    });
    cfg_.run_actions(*this);
  }

  /// In a master started by `restart()`: takes the handoff socket and the state the predecessor
  /// wrote on it, and when the predecessor restarted.
  void adopt_predecessor() {
    if (char const* at = std::getenv(detail::restarted_at_variable)) {
      last_restart_ = clock::time_point(clock::duration(std::strtoll(at, nullptr, 10)));
      ::unsetenv(detail::restarted_at_variable);
    }
    predecessor_.adopt();
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
    auto slot = scoreboard_.acquire();
    if (slot) setup.slot = &scoreboard_[*slot];

    pid_t pid;
    {
      os::signal_block blocked;
      pid = ::fork();
      if (pid == 0) {
        os::reset_signals_in_child();
        // SIGTERM when the master dies, even by SIGKILL; if it already died, leave now.
        if (!os::follow_parent(setup.master_pid, SIGTERM)) os::exit_child(0);
        // Close the master's ends: the death pipe's write end (else EOF never comes), every
        // worker's channel (a worker must not hold its siblings' channels open), our own, and
        // the handoff sockets (a successor must see EOF when its predecessor master is gone).
        // These are raw close() calls on purpose: the master's Asio objects are never touched in
        // the child (see os::exit_child).
        ::close(death_pipe_.write.get());
        ::close(master_end.get());
        for (auto& [other, l] : links_) {
          if (l.channel) ::close(l.channel->native_handle());
        }
        if (int const fd = successor_.handoff_fd(); fd >= 0) ::close(fd);
        if (int const fd = predecessor_.handoff_fd(); fd >= 0) ::close(fd);
        os::exit_child(detail::run_worker(cfg_, setup));
      }
    }
    if (pid < 0) {
      if (slot) scoreboard_.release(*slot);
      std::fprintf(stderr, "cluster: cannot fork worker %u: %s\n", id, std::strerror(errno));
      give_up();
      return;
    }
    worker_end.reset();
    auto const now = clock::now();
    auto const verdict = sup_.started(id, pid, now);
    link& l = links_[pid];
    l.channel = std::make_unique<descriptor>(io_, master_end.release());
    l.slot = slot;
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
    it->second.channel->async_wait(descriptor::wait_read,
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
          step_roll();
          if (sup_.all_connected()) on_all_connected();
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

  /// Every wanted worker accepts: the service is up. Said once, to whoever waits for it: the
  /// predecessor master (which then stops), or the service manager.
  void on_all_connected() {
    if (ready_) return;
    ready_ = true;
    if (predecessor_.present()) {
      // The predecessor tells systemd (it is still the main process): MAINPID, then READY.
      predecessor_.announce_ready();
    } else {
      notify("READY=1\n" + status_line());
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
    if (reap_all_) {
      // PID 1: any child may have ended, ours or an orphan's; collect them all.
      while (auto status = os::reap(-1)) handle_exit(*status);
    } else {
      std::vector<int> candidates;
      for (auto const& [pid, w] : sup_.workers()) candidates.push_back(pid);
      if (successor_.running()) candidates.push_back(successor_.pid());
      for (int pid : candidates) {
        if (auto status = os::reap(pid)) handle_exit(*status);
      }
    }
    finish_if_done();
  }

  void handle_exit(os::exit_status const& status) {
    if (successor_.running() && status.pid == successor_.pid()) {
      successor_.exited(status);
      return;
    }
    if (!sup_.find(status.pid)) return;  // an orphan a PID 1 master reaped for the system
    // Messages sent just before dying (the exception text) may still be queued.
    drain_channel(status.pid);
    if (auto it = links_.find(status.pid); it != links_.end()) {
      if (it->second.slot) scoreboard_.release(*it->second.slot);
      // Destroying the descriptor cancels its pending wait.
      links_.erase(it);
    }
    detail::supervisor::entry w;
    outcome const what = sup_.exited(status.pid, clock::now(), w);
    cfg_.emit(events::worker_killed{w.id, w.pid, status.code, status.signal}, *this);
    switch (what) {
      case outcome::unknown:
      case outcome::shutting_down:
        break;
      case outcome::removed:
        cfg_.emit(events::worker_removed{w.id, w.pid}, *this);
        // A worker stopped by a rolling restart whose replacement died meanwhile: its slot
        // must not stay empty.
        if (sup_.wants(w.id)) spawn_worker(w.id);
        break;
      case outcome::replace:
        // The same id, at once: the worker count is maintained whatever killed the worker. A
        // plugin handling worker_killed may have shrunk the cluster or stopped it meanwhile.
        if (sup_.wants(w.id)) spawn_worker(w.id);
        break;
      case outcome::give_up: {
        auto const& guard = sup_.guard();
        std::string const why = w.last_error.empty()
                                    ? "the last one ended with " + detail::describe_exit(status)
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
        return;
      }
    }
    step_roll(&status, &w);
  }

  /// Carries out what the rolling restart needs now; `exit`/`dead` describe a worker that just
  /// exited (for the message if it was the replacement).
  void step_roll(os::exit_status const* exit = nullptr,
                 detail::supervisor::entry const* dead = nullptr) {
    using status = detail::supervisor::roll_action::status;
    auto const act = sup_.roll_step(clock::now());
    for (int pid : act.stop) stop_worker(pid);
    switch (act.what) {
      case status::idle:
      case status::waiting:
        break;
      case status::done:
        std::fprintf(stderr, "cluster: rolling restart: every worker replaced (%u)\n",
                     act.replaced);
        rolling_notified_ = false;
        notify("READY=1\n" + status_line());
        break;
      case status::failed: {
        std::string why = "it failed";
        if (exit && dead && dead->pid == act.failed_pid) {
          why = dead->last_error.empty() ? "it ended with " + detail::describe_exit(*exit)
                                         : "its error was: " + dead->last_error;
        }
        std::fprintf(stderr,
                     "cluster: rolling restart stopped: the new worker %d died before it "
                     "accepted (%s); the other workers keep serving\n",
                     act.failed_pid, why.c_str());
        rolling_notified_ = false;
        notify("READY=1\nSTATUS=rolling restart failed: " + why);
        break;
      }
    }
    if (act.spawn) spawn_worker(*act.spawn);
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

  //=== master restart ===//

  void begin_restart(int stop_signal) {
    last_restart_ = clock::now();
    notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(os::monotonic_usec()) +
           "\nSTATUS=restarting the master");
    restart_state state;
    cfg_.emit(events::restarting{state}, *this);

    auto plan = detail::plan_successor(executable_, command_, start_directory_, listeners_,
                                       notifier_, *last_restart_);
    try {
      successor_.start(
          std::move(plan), state.serialize(), cfg_.settings().timeout,
          [this, stop_signal](detail::successor_link::news what, std::string const& why) {
            if (what == detail::successor_link::news::ready) {
              successor_ready(stop_signal);
            } else {
              restart_failed(why);
            }
          });
    } catch (std::exception const& e) {
      restart_failed(std::string("cannot start a new master: ") + e.what());
      return;
    }
    std::fprintf(stderr, "cluster: restarting: starting a new master (pid %d)\n", successor_.pid());
    std::fflush(stderr);
  }

  /// The successor's workers all accept: hand the service over and stop.
  void successor_ready(int stop_signal) {
    handed_over_ = true;
    std::fprintf(stderr, "cluster: restart: new master %d is serving; this master stops\n",
                 successor_.pid());
    std::fflush(stderr);
    // This master is systemd's main process until now: it names the new one, whose readiness it
    // has just seen.
    notify("MAINPID=" + std::to_string(successor_.pid()) + "\nREADY=1\n" + status_line());
    if (stop_signal != 0) on_signal(stop_signal);
    if (sup_.state() == master_state::active) close();
  }

  /// The restart did not happen: report it once, stop the would-be successor, keep serving.
  void restart_failed(std::string const& why) {
    std::fprintf(stderr, "cluster: restart failed: %s; this master keeps serving\n", why.c_str());
    std::fflush(stderr);
    notify("READY=1\nSTATUS=restart failed: " + why);
  }

  /// A shutdown during a restart: the successor, not yet serving, must not outlive us.
  void abandon_successor() {
    restart_delay_.cancel();
    successor_.abandon();
  }

  //=== service manager ===//

  void notify(std::string const& state) const {
    if (notifier_.enabled()) notifier_.send(state);
  }

  [[nodiscard]] std::string status_line() const {
    std::string where;
    for (auto const& l : listeners_) where += (where.empty() ? "" : ", ") + l.name;
    return "STATUS=serving" + (where.empty() ? std::string() : " on " + where) + " with " +
           std::to_string(sup_.target()) + " workers";
  }

  /// True when the service works: every wanted worker accepts, and each one's event loop has
  /// run recently (a worker stuck in a handler stops beating). Only then does the watchdog get
  /// its keep-alive, so that systemd restarts a service that is up but no longer serves.
  [[nodiscard]] bool healthy() const {
    if (!sup_.all_connected()) return false;
    auto const now = ipc::heartbeat_now();
    for (auto const& [pid, w] : sup_.workers()) {
      if (w.stopping) continue;
      auto it = links_.find(pid);
      if (it == links_.end() || !it->second.slot) continue;
      auto const beat = scoreboard_[*it->second.slot].heartbeat.load(std::memory_order_relaxed);
      if (now - beat > stale_heartbeat.count()) return false;
    }
    return true;
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
        restart();
        break;
      case master_action::restart_workers:
        restart_workers();
        break;
      case master_action::reopen_logs:
        reopen_logs();
        break;
    }
  }

  /// Removes the unix socket files this master created, if they are still the same files. Not
  /// after a handover: the successor listens on them now.
  void remove_unix_sockets() {
    if (handed_over_) return;
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
  boost::asio::steady_timer deadline_;     ///< the next graceful-stop deadline, if any
  detail::delayed_restart restart_delay_;  ///< a restart delayed as cyclic
  std::vector<os::listener> listeners_;
  std::vector<std::pair<dev_t, ino_t>> unix_inodes_;
  os::pipe_ends death_pipe_;
  os::credentials credentials_;
  std::string title_pattern_;
  detail::supervisor sup_;
  std::map<int, link> links_;
  ipc::scoreboard scoreboard_;
  os::notifier notifier_;
  // Master restart.
  std::string executable_;
  std::vector<std::string> command_;
  std::string start_directory_;
  detail::successor_link successor_;
  std::optional<clock::time_point> last_restart_;
  bool handed_over_ = false;  ///< a successor serves: this master only drains and exits
  detail::predecessor_link predecessor_;
  detail::watchdog_feeder watchdog_;
  bool took_over_ = false;
  bool ready_ = false;
  bool rolling_notified_ = false;
  bool reap_all_ = false;
  int exit_status_ = 0;
  bool finished_ = false;
};

}  // namespace cluster
