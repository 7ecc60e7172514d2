// SPDX-License-Identifier: BSL-1.0
// The master's decisions about its workers, apart from the system calls that carry them out: pure
// code on a clock it is given, without Asio or fork(), so that it is tested on simulated time.
#pragma once

#include <cluster/crash_loop.hpp>
#include <cluster/events.hpp>
#include <cluster/fatal.hpp>
#include <cluster/signals.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cluster::detail {

/// Uniform draws in [0, 1) from a seed (splitmix64): enough to spread waits and limits, and
/// reproducible in tests.
class unit_random {
 public:
  explicit unit_random(std::uint64_t seed) noexcept : state_(seed) {}
  double next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    // The top 53 bits of the mixed state, as a double's mantissa.
    return static_cast<double>((z ^ (z >> 31U)) >> 11U) * 0x1.0p-53;
  }

 private:
  std::uint64_t state_;
};

/// The crash-loop policy's decisions (see `crash_loop_policy`), per worker id, on a clock it is
/// given: how long the replacement of a dead worker waits, and when the master gives up.
class crash_loop {
 public:
  using clock = std::chrono::steady_clock;

  /// What a death means.
  struct decision {
    clock::duration delay{};  ///< how long its replacement waits; zero: at once
    unsigned in_a_row = 0;    ///< its id's deaths in a row, each of a short-lived worker
    bool give_up = false;     ///< the application looks broken: stop
  };

  /// `seed` drives the jitter (any value; tests give a fixed one).
  explicit crash_loop(crash_loop_policy policy = {}, std::uint64_t seed = 1) noexcept
      : policy_(policy), random_(seed) {}

  [[nodiscard]] crash_loop_policy const& policy() const noexcept { return policy_; }
  /// Deaths before accepting that count towards giving up now (each id's since its last worker
  /// that accepted).
  [[nodiscard]] unsigned unready() const noexcept {
    unsigned n = 0;
    for (auto const& [id, s] : slots_) n += s.unready;
    return n;
  }

  /// A worker with `id`, started at `spawned_at`, died at `now`; it had accepted (`served`) or
  /// not; `booted` is whether any worker of the master has accepted yet.
  decision died(unsigned id, clock::time_point spawned_at, bool served, bool booted,
                clock::time_point now) {
    slot& s = slots_[id];
    s.in_a_row = now - spawned_at >= policy_.stable_uptime ? 1 : s.in_a_row + 1;
    if (!served) ++s.unready;
    decision d;
    d.in_a_row = s.in_a_row;
    d.give_up = policy_.give_up_after > 0 && unready() >= policy_.give_up_after;
    // Before any worker has accepted, a server that cannot start is reported without waiting.
    if (booted && !d.give_up) d.delay = wait(s.in_a_row);
    return d;
  }

  /// The deaths in a row of `id`'s short-lived workers.
  [[nodiscard]] unsigned in_a_row(unsigned id) const {
    auto const it = slots_.find(id);
    return it == slots_.end() ? 0 : it->second.in_a_row;
  }

  /// A worker with `id` accepted: its id's deaths before accepting no longer count.
  void accepted(unsigned id) { slots_[id].unready = 0; }

  /// `id` is no longer wanted (a shrink): what its workers did is forgotten.
  void forget(unsigned id) { slots_.erase(id); }

  /// The wait before the replacement of the `n`th death in a row: none for the first, then
  /// `first_delay`, `growth` times longer each time up to `max_delay`, shortened by the jitter.
  [[nodiscard]] clock::duration wait(unsigned n) {
    using std::chrono::milliseconds;
    if (n < 2 || policy_.max_delay <= milliseconds::zero()) return {};
    auto delay = policy_.first_delay;
    for (unsigned i = 2; i < n && delay < policy_.max_delay; ++i) delay *= policy_.growth;
    delay = std::min(delay, policy_.max_delay);
    double const u = random_.next();
    auto const cut = static_cast<milliseconds::rep>(static_cast<double>(delay.count()) *
                                                    policy_.jitter_percent / 100.0 * u);
    return delay - milliseconds(cut);
  }

 private:
  struct slot {
    unsigned in_a_row = 0;  ///< deaths in a row of workers that lived less than stable_uptime
    unsigned unready = 0;   ///< deaths in a row of workers that never accepted
  };

  crash_loop_policy policy_;
  unit_random random_;
  std::map<unsigned, slot> slots_;
};

/// Why the master judged a worker hung (see `liveness`).
enum class hang : std::uint8_t {
  none,
  no_heartbeat,    ///< its event loop has not beaten for `liveness timeout`
  never_accepted,  ///< it has not reported that it accepts within `boot timeout` of its start
  past_deadline,   ///< a request's handler has run past its `request deadline`
};

/// The master's liveness check, on a clock it is given: which workers are hung.
///
/// A worker's event loop beats in its scoreboard slot four times a second; the master runs
/// `tick` every `check_interval` and asks `judge` about each worker. Time the master itself
/// spent stopped (SIGSTOP, a debugger, a machine too loaded to schedule it) is not the workers'
/// fault: a tick that comes much later than asked starts their clocks afresh, so that no worker
/// is killed for the master's own pause.
class liveness {
 public:
  using clock = std::chrono::steady_clock;

  /// How often the master checks.
  static constexpr std::chrono::milliseconds check_interval{500};

  /// A worker is hung after `heartbeat` without a beat once it accepts, or after `boot` without
  /// accepting; zero turns either check off.
  liveness(clock::duration heartbeat, clock::duration boot) noexcept
      : heartbeat_(heartbeat), boot_(boot) {}

  /// True when either check is on: the master then ticks.
  [[nodiscard]] bool enabled() const noexcept {
    return heartbeat_ > clock::duration::zero() || boot_ > clock::duration::zero();
  }
  [[nodiscard]] clock::duration heartbeat_timeout() const noexcept { return heartbeat_; }
  [[nodiscard]] clock::duration boot_timeout() const noexcept { return boot_; }

  /// The master's check at `now`. A tick more than one interval late means the master did not
  /// run meanwhile: every worker's time is counted from `now` again.
  void tick(clock::time_point now) noexcept {
    if (last_tick_ && now - *last_tick_ > 2 * check_interval) resumed_ = now;
    last_tick_ = now;
  }

  /// Since when the master has run without a pause: its last resumption, or the clock's epoch.
  [[nodiscard]] clock::time_point running_since() const noexcept {
    return resumed_.value_or(clock::time_point{});
  }

  /// Whether a worker, started at `spawned_at`, accepting since `connected_at` (if it does) and
  /// whose loop last beat at `beat` (if it has a slot and has beaten), is hung at `now`.
  [[nodiscard]] hang judge(clock::time_point spawned_at,
                           std::optional<clock::time_point> connected_at,
                           std::optional<clock::time_point> beat, clock::time_point now) const {
    auto const since = [&](clock::time_point t) {
      return now - (resumed_ && *resumed_ > t ? *resumed_ : t);
    };
    if (!connected_at) {
      if (boot_ > clock::duration::zero() && since(spawned_at) >= boot_)
        return hang::never_accepted;
      return hang::none;
    }
    if (heartbeat_ <= clock::duration::zero() || !beat) return hang::none;
    auto const last = std::max(*beat, *connected_at);
    return since(last) >= heartbeat_ ? hang::no_heartbeat : hang::none;
  }

  /// `verdict` (what `judge` said) revised for a worker whose synchronous handler was entered at
  /// `entered` for a request with a deadline of `deadline` (zero: none). Such a handler holds
  /// the loop by design, for as long as its request is allowed: its deadline, not the liveness
  /// timeout, says when it is hung (`past_deadline`), whether shorter or longer. A handler
  /// without a deadline stays under the liveness timeout.
  [[nodiscard]] hang judge_request(hang verdict, std::optional<clock::time_point> entered,
                                   clock::duration deadline, clock::time_point now) const {
    if (verdict == hang::never_accepted || !entered || deadline <= clock::duration::zero())
      return verdict;
    auto const from = resumed_ && *resumed_ > *entered ? *resumed_ : *entered;
    return now - from >= deadline ? hang::past_deadline : hang::none;
  }

 private:
  clock::duration heartbeat_;
  clock::duration boot_;
  std::optional<clock::time_point> last_tick_;
  std::optional<clock::time_point> resumed_;
};

/// Why the master recycles a worker (see `supervisor::nominate`).
enum class recycle : std::uint8_t {
  none,
  requests,  ///< it answered `max requests`
  age,       ///< it is older than `max age`
  memory,    ///< it owns more than `max memory`
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
    unsigned generation = 1;             ///< 1 for the first process with this id, then 2, ...
    int signalled = 0;                   ///< the last signal the master's kill() sent it
    clock::time_point connected_at{};    ///< when it reported that it accepts (if `connected`)
    hang hung = hang::none;              ///< judged hung: it is being traced and killed
    recycle recycled = recycle::none;    ///< nominated for recycling: replaced, then stopped
    double jitter = 0;  ///< in [0, 1): how much sooner than the limits it is recycled (1/10 each)
  };

  /// How the last process with an id ended.
  struct exit_record {
    int pid = 0;
    int exit_code = 0;  ///< meaningful when signal == 0
    int signal = 0;
    events::exit_reason reason = events::exit_reason::crashed;
    clock::time_point at{};
  };

  /// What a worker's exit means.
  enum class outcome : std::uint8_t {
    unknown,        ///< not one of ours (a child a plugin started)
    replace,        ///< start a worker with the same id now
    wait,           ///< start a worker with the same id after its wait (see `due`)
    removed,        ///< it was stopped on purpose: do not replace it
    shutting_down,  ///< a shutdown is under way: do not replace it
    give_up,        ///< too many deaths before accepting: the application is broken
    fatal,          ///< it said restarting cannot help (`fatal_exit_code`): stop
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

  /// A supervisor that paces and gives up as `policy` says (its jitter drawn from `seed`), and
  /// gives a stopping worker `timeout` to exit before it must be killed.
  explicit supervisor(crash_loop_policy policy = {},
                      clock::duration timeout = std::chrono::seconds(60), std::uint64_t seed = 1)
      : crashes_(policy, seed), timeout_(timeout), random_(~seed) {}

  [[nodiscard]] master_state state() const noexcept { return state_; }
  /// Ids 0..target()-1 are wanted.
  [[nodiscard]] unsigned target() const noexcept { return target_; }
  [[nodiscard]] std::map<int, entry> const& workers() const noexcept { return workers_; }
  /// How the last process with `id` ended, if one did.
  [[nodiscard]] exit_record const* last_exit(unsigned id) const noexcept {
    auto it = last_exits_.find(id);
    return it == last_exits_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] crash_loop const& crashes() const noexcept { return crashes_; }
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
      waiting_.erase(id);
      crashes_.forget(id);
    }
    return pids;
  }

  /// True when a worker with `id` should be started now: the master is active, `id` is wanted,
  /// no running worker has it and it is not waiting out a crash loop's delay. Asked before
  /// replacing a dead worker, since something (a plugin reacting to the death) may have shrunk
  /// the cluster or begun a shutdown meanwhile.
  [[nodiscard]] bool wants(unsigned id) const noexcept {
    if (state_ != master_state::active || id >= target_ || waiting_.contains(id)) return false;
    return std::none_of(workers_.begin(), workers_.end(),
                        [id](auto const& p) { return p.second.id == id && !p.second.stopping; });
  }

  /// Records a worker the master has just forked at `now`, and says what to do with it: a
  /// shutdown or a shrink that came while it was being forked means it is not wanted any more.
  verdict started(unsigned id, int pid, clock::time_point now) {
    if (roll_ && roll_->new_pid == 0 && roll_->id == id) roll_->new_pid = pid;
    for (auto& r : recycles_) {
      if (r.new_pid == 0 && r.id == id) {
        r.new_pid = pid;
        break;
      }
    }
    entry& w = workers_[pid];
    w.id = id;
    w.pid = pid;
    w.spawned_at = now;
    w.generation = ++generations_[id];
    w.jitter = random_.next();
    if (state_ == master_state::hard_shutdown) return verdict::kill;
    if (state_ == master_state::graceful_shutdown || id >= target_) {
      stop(w, now);
      return verdict::stop;
    }
    return verdict::keep;
  }

  /// Records that the master sent `signal` to every worker (`kill()`): a death by that signal is
  /// then the master's doing, not a crash.
  void signalled(int signal) {
    for (auto& [pid, w] : workers_) w.signalled = signal;
  }

  /// Records that the master sent `signal` to the worker `pid` alone (`kill_worker()`).
  void signalled(int pid, int signal) {
    if (entry* w = find(pid)) w->signalled = signal;
  }

  /// Records that `pid` reported at `now` that it is up.
  void connected(int pid, clock::time_point now = {}) {
    if (entry* w = find(pid)) {
      w->connected = true;
      w->connected_at = now;
      crashes_.accepted(w->id);
      booted_ = true;
    }
  }
  /// Records that the master judged `pid` hung (`why`) and is killing it: it is replaced when it
  /// ends, like a crash, and its death says why.
  void hung(int pid, hang why) {
    if (entry* w = find(pid)) w->hung = why;
  }

  /// Records that `pid` exited at `now`; `out` receives its entry (when it was ours).
  ///
  /// A death counts towards giving up only when the worker never came up (its server cannot even
  /// be built): `give_up_after` such deaths in a row mean a broken application. Deaths of
  /// workers that were serving are always replaced, right after boot too: a request that crashes
  /// its worker must not let a client stop the whole service, nor must the OOM killer or an
  /// operator killing workers. An id whose workers keep dying young is replaced after a growing
  /// wait (`wait`, then `due`); see `crash_loop`.
  ///
  /// A worker that ended with `fatal_exit_code` (`exit_code`, when it was not killed by a
  /// signal) said restarting cannot help: the master gives up at once, unless it was the
  /// replacement of a rolling restart, whose failure leaves the old workers serving.
  outcome exited(int pid, clock::time_point now, entry& out, int exit_code = 0, int signal = 0) {
    auto it = workers_.find(pid);
    if (it == workers_.end()) return outcome::unknown;
    out = std::move(it->second);
    workers_.erase(it);
    if (state_ != master_state::active) return outcome::shutting_down;
    // The replacement of a rolling restart died before it accepted: the new code (or whatever
    // the workers load at start) is broken, and the worker it was to replace keeps its slot.
    bool const roll_failed = roll_ && roll_->new_pid == pid && !out.connected && !out.stopping;
    if (roll_failed) roll_->failed_pid = pid;
    if (out.stopping || out.id >= target_) return outcome::removed;
    if (signal == 0 && exit_code == fatal_exit_code && !roll_failed) return outcome::fatal;
    auto const d = crashes_.died(out.id, out.spawned_at, out.connected, booted_, now);
    last_death_ = d;
    if (d.give_up) return outcome::give_up;
    // A failed roll's replacement leaves the old worker in its id: nothing to wait for.
    if (d.delay > clock::duration::zero() && wants(out.id)) {
      waiting_[out.id] = now + d.delay;
      return outcome::wait;
    }
    return outcome::replace;
  }

  /// What the crash-loop policy made of the last death `exited` judged.
  [[nodiscard]] crash_loop::decision const& last_death() const noexcept { return last_death_; }

  /// The ids whose wait is over at `now`: start them (if `wants` them, as after any death).
  std::vector<unsigned> due(clock::time_point now) {
    std::vector<unsigned> ids;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second <= now) {
        ids.push_back(it->first);
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    return ids;
  }

  /// When `due` will next have an id to return, if any waits.
  [[nodiscard]] std::optional<clock::time_point> next_due() const {
    std::optional<clock::time_point> next;
    for (auto const& [id, at] : waiting_)
      if (!next || at < *next) next = at;
    return next;
  }

  /// The deaths in a row of `id`'s short-lived workers (see `crash_loop`).
  [[nodiscard]] unsigned deaths_in_a_row(unsigned id) const { return crashes_.in_a_row(id); }

  /// The ids waiting out a crash loop's delay, and until when.
  [[nodiscard]] std::map<unsigned, clock::time_point> const& waiting() const noexcept {
    return waiting_;
  }

  /// Why the worker `w`, which ended with `exit_code` / `signal` and which `exited` judged `what`,
  /// ended: the one classification every plugin sees (`events::worker_killed::reason`). Recorded
  /// as the last exit of its id.
  events::exit_reason classify(entry const& w, outcome what, int exit_code, int signal,
                               clock::time_point now) {
    events::exit_reason const why = [&] {
      if (what == outcome::give_up || what == outcome::fatal) return events::exit_reason::gave_up;
      if (w.overdue) return events::exit_reason::timed_out;
      if (w.hung == hang::no_heartbeat) return events::exit_reason::hung;
      if (w.hung == hang::never_accepted) return events::exit_reason::boot_timeout;
      if (w.hung == hang::past_deadline) return events::exit_reason::deadline;
      if (what == outcome::shutting_down) return events::exit_reason::shutdown;
      if (what == outcome::removed) {
        if (w.stopping && w.id < target_) {
          switch (w.recycled) {
            case recycle::requests:
              return events::exit_reason::max_requests;
            case recycle::age:
              return events::exit_reason::max_age;
            case recycle::memory:
              return events::exit_reason::max_memory;
            case recycle::none:
              break;
          }
          return events::exit_reason::stopped;
        }
        return events::exit_reason::removed;
      }
      if (signal != 0 && signal == w.signalled) return events::exit_reason::killed;
      if (signal == 0 && exit_code == 0) return events::exit_reason::exited;
      return events::exit_reason::crashed;
    }();
    last_exits_[w.id] = exit_record{w.pid, exit_code, signal, why, now};
    return why;
  }

  /// Starts a graceful shutdown at `now`: the pids to stop (now marked stopping); none if one
  /// has begun. Workers already stopping keep their deadline.
  std::vector<int> begin_graceful(clock::time_point now) {
    std::vector<int> pids;
    if (state_ != master_state::active) return pids;
    state_ = master_state::graceful_shutdown;
    roll_.reset();
    recycles_.clear();
    nominated_.clear();
    waiting_.clear();
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
    recycles_.clear();
    nominated_.clear();
    waiting_.clear();
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

  /// True when the cluster serves as well as its crash-loop policy lets it: every wanted id has a
  /// worker that accepts, except ids waiting out their delay, and some worker accepts. What the
  /// watchdog asks: a worker in a crash loop is the master's to pace, not a reason for the
  /// service manager to restart every healthy worker with it.
  [[nodiscard]] bool serving() const noexcept {
    if (state_ != master_state::active) return false;
    bool any = false;
    for (unsigned id = 0; id < target_; ++id) {
      bool const up = std::any_of(workers_.begin(), workers_.end(), [id](auto const& p) {
        return p.second.id == id && !p.second.stopping && p.second.connected;
      });
      any = any || up;
      if (!up && !waiting_.contains(id)) return false;
    }
    return any || target_ == 0;
  }

  //=== recycling (docs/health.md) ===//

  /// The limit of `what` for the worker `w`: `limit`, up to a tenth sooner by the worker's own
  /// jitter, so that workers started together do not all come due together.
  template <class T>
  [[nodiscard]] static T jittered(T limit, entry const& w) noexcept {
    return limit - static_cast<T>(static_cast<double>(limit) * 0.1 * w.jitter);
  }
  [[nodiscard]] static clock::duration jittered(clock::duration limit, entry const& w) noexcept {
    return limit - std::chrono::duration_cast<clock::duration>(limit * 0.1 * w.jitter);
  }

  /// Nominates the worker `pid` for recycling (`why`): a trigger's say, not an order. Ignored
  /// unless it serves, is not stopping and is not already nominated or being replaced.
  void nominate(int pid, recycle why) {
    entry* w = find(pid);
    if (!w || why == recycle::none || state_ != master_state::active || !w->connected ||
        w->stopping || w->recycled != recycle::none || roll_)
      return;
    w->recycled = why;
    nominated_.push_back(pid);
  }

  /// Where recycling stands, and what the master must do for it now (see `recycle_step`).
  struct recycle_action {
    std::optional<unsigned> spawn;  ///< start a replacement with this id now
    int replacing = 0;              ///< with `spawn`: the worker it replaces
    std::vector<int> stop;          ///< workers whose replacement accepts: stop them gracefully
  };

  /// What recycling needs at `now`: one coordinator for every trigger. At most `at_once`
  /// recycles are under way, each from its replacement's start until the old worker has ended;
  /// the next starts no sooner than `spacing` after the last one
  /// started; a worker is stopped only once its replacement accepts, so capacity never drops.
  /// Nothing starts during a rolling restart, a crash loop's wait, or a shutdown. The master calls
  /// it on its tick and after each change it may wait for (a worker started, connected, exited).
  recycle_action recycle_step(clock::time_point now, unsigned at_once, clock::duration spacing) {
    recycle_action act;
    if (state_ != master_state::active) return act;
    for (auto it = recycles_.begin(); it != recycles_.end();) {
      entry* old = find(it->old_pid);
      // Under way until the old worker has ended: a draining worker is a process too, and
      // `at_once` bounds the processes beyond the wanted count, not only the replacements.
      if (it->draining) {
        it = old != nullptr ? it + 1 : recycles_.erase(it);
        continue;
      }
      entry const* fresh = it->new_pid != 0 ? find(it->new_pid) : nullptr;
      bool const old_serves = old && !old->stopping;
      if (old_serves && (it->new_pid == 0 || (fresh && !fresh->connected && !fresh->stopping))) {
        ++it;  // the replacement is being forked, or starting
        continue;
      }
      // Only a replacement that accepts lets the old worker go; one that died or was removed
      // leaves it serving (a later tick may nominate it again).
      if (fresh && fresh->connected && !fresh->stopping && old && stop(*old, now)) {
        act.stop.push_back(it->old_pid);
        it->draining = true;
        ++it;
        continue;
      }
      if (old_serves) {
        old->recycled = recycle::none;
      }
      it = recycles_.erase(it);
    }
    // None starts during a roll (which replaces every worker anyway) or a crash loop's wait.
    if (roll_ || !waiting_.empty() || recycles_.size() >= at_once) return act;
    if (last_recycle_ && now - *last_recycle_ < spacing) return act;
    while (!nominated_.empty()) {
      int const pid = nominated_.front();
      nominated_.pop_front();
      entry* w = find(pid);
      if (!w || w->stopping || !w->connected || w->id >= target_) continue;
      recycles_.push_back({w->id, pid, 0});
      last_recycle_ = now;
      act.spawn = w->id;
      act.replacing = pid;
      return act;
    }
    return act;
  }

  /// The recycles under way: how many workers are being replaced now.
  [[nodiscard]] std::size_t recycles_under_way() const noexcept { return recycles_.size(); }

  /// True while a replacement is under way or a worker waits to be recycled.
  [[nodiscard]] bool recycling() const noexcept {
    return !recycles_.empty() || !nominated_.empty();
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
    // The roll replaces every worker: the nominations are moot. One under way finishes first.
    nominated_.clear();
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

  crash_loop crashes_;
  crash_loop::decision last_death_;
  clock::duration timeout_;
  std::map<unsigned, clock::time_point> waiting_;  ///< ids waiting out a crash loop's delay
  /// The worker being recycled (`old_pid`), and its replacement (`new_pid`, 0 until forked).
  struct recycle_state {
    unsigned id = 0;
    int old_pid = 0;
    int new_pid = 0;
    bool draining = false;  ///< the old worker was asked to stop and has not ended yet
  };
  std::vector<recycle_state> recycles_;
  std::deque<int> nominated_;                      ///< workers to recycle, in order
  std::optional<clock::time_point> last_recycle_;  ///< when the last replacement started
  unit_random random_;                             ///< the workers' recycling jitter

  bool booted_ = false;  ///< some worker has accepted
  std::map<int, entry> workers_;
  std::map<unsigned, unsigned> generations_;    ///< processes started per id
  std::map<unsigned, exit_record> last_exits_;  ///< how the last process of each id ended
  unsigned target_ = 0;
  master_state state_ = master_state::active;
  std::optional<roll_state> roll_;
};

}  // namespace cluster::detail
