// SPDX-License-Identifier: BSL-1.0
// The master's core: binds the listeners, forks and supervises the workers, handles signals,
// restarts. Not a template: compiled once per program, whatever its environments and plugins.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/events.hpp>
#include <cluster/ipc/scoreboard.hpp>
#include <cluster/ipc/worker_setup.hpp>
#include <cluster/linkage.hpp>
#include <cluster/master/api.hpp>
#include <cluster/master/handoff.hpp>
#include <cluster/master/sink.hpp>
#include <cluster/master/supervisor.hpp>
#include <cluster/os/credentials.hpp>
#include <cluster/os/fd.hpp>
#include <cluster/os/hang.hpp>
#include <cluster/os/listen.hpp>
#include <cluster/os/notify.hpp>
#include <cluster/os/process.hpp>
#include <cluster/signals.hpp>
#include <cluster/systemd.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cluster {

/// The master process of a cluster; programs reach it through <cluster/master/sink.hpp>'s
/// `make_master_core`, so that, compiled separately, they do not parse this header.
///
/// Single-threaded: one `io_context` runs signals, timers and the worker channels, which keeps
/// fork() safe. Plugins reach it through `cluster::master_api` (the plugin contract), never
/// directly.
class master_core final : public detail::master_ops {
  using clock = std::chrono::steady_clock;
  using descriptor = boost::asio::posix::stream_descriptor;

 public:
  /// A master running `plan` and reporting to `sink`, both of which must outlive it.
  CLUSTER_DECL master_core(master_sink& sink, master_plan plan);
  master_core(master_core const&) = delete;
  master_core& operator=(master_core const&) = delete;
  CLUSTER_DECL ~master_core() override;

  /// Runs the cluster until it shuts down; returns the exit status for `main`. See
  /// `master<Config>::run`.
  CLUSTER_DECL int run();

  //=== operations (see master_api) ===//

  CLUSTER_DECL void spawn(int n) override;
  CLUSTER_DECL void close() override;
  CLUSTER_DECL void destroy() override;
  CLUSTER_DECL void kill(int signal) override;
  CLUSTER_DECL int kill_worker(unsigned id, int signal) override;
  CLUSTER_DECL void restart(int stop_signal) override;
  CLUSTER_DECL void restart_workers() override;
  CLUSTER_DECL void reopen_logs() override;
  CLUSTER_DECL void keep_from_workers(int fd) override;
  CLUSTER_DECL void release_to_workers(int fd) override;

  //=== observers ===//

  [[nodiscard]] master_state state() const noexcept override { return sup_.state(); }
  [[nodiscard]] std::size_t worker_count() const noexcept override { return sup_.workers().size(); }
  [[nodiscard]] CLUSTER_DECL std::vector<worker_info> workers() const override;
  [[nodiscard]] CLUSTER_DECL std::vector<waiting_info> waiting() const override;
  [[nodiscard]] CLUSTER_DECL std::vector<int> pids() const override;
  [[nodiscard]] CLUSTER_DECL int pid_of(unsigned id) const noexcept override;
  [[nodiscard]] CLUSTER_DECL std::optional<ipc::slot_snapshot> counters_of(
      int pid) const noexcept override;
  [[nodiscard]] os::credentials const& worker_credentials() const noexcept override {
    return credentials_;
  }
  [[nodiscard]] std::string_view environment() const noexcept override { return plan_.environment; }
  [[nodiscard]] core_settings const& settings() const noexcept override { return plan_.settings; }
  [[nodiscard]] CLUSTER_DECL std::vector<std::string> addresses() const override;
  [[nodiscard]] bool restarted() const noexcept override {
    return predecessor_.present() || took_over_;
  }
  [[nodiscard]] std::string_view executable() const noexcept override { return executable_; }
  [[nodiscard]] std::vector<std::string> const& command_line() const noexcept override {
    return command_;
  }
  [[nodiscard]] std::string_view start_directory() const noexcept override {
    return start_directory_;
  }
  [[nodiscard]] CLUSTER_DECL std::vector<std::string> written_paths() const override;
  void announce(events::reload const& event) override { sink_.deliver(event); }
  [[nodiscard]] boost::asio::io_context& io() noexcept override { return io_; }

 private:
  /// The master's side of one worker: its channel, its scoreboard slot, the file its stack is
  /// written to if it hangs, and what the master found when it judged it hung.
  struct link {
    std::unique_ptr<descriptor> channel;
    std::unique_ptr<descriptor> exit_watch;  ///< its pidfd: readable once the worker has ended
    std::optional<std::size_t> slot;
    os::unique_fd trace;
    std::optional<clock::time_point> hung_at;   ///< judged hung then: traced, then killed
    bool killed = false;                        ///< the grace period is over: SIGKILL sent
    bool debugged = false;                      ///< said once: a debugger holds it
    std::optional<clock::time_point> released;  ///< when the debugger let it go
    std::string why;                            ///< "no heartbeat for 30012 ms"
    std::string request;                        ///< "GET /x from 127.0.0.1:5678, for 30010 ms"
    std::string proc;                           ///< what /proc showed, when no trace came
    std::string recycle_why;  ///< "10000 requests, max requests 10000", when nominated
  };

  CLUSTER_DECL void start();
  /// Says why the start was refused, lets the plugins undo what they did, removes the unix
  /// sockets bound; the exit status (1).
  CLUSTER_DECL int refuse_start(std::string const& message);
  /// `CLUSTER_CHECK=1`: checks what start() would, without binding, forking or telling any
  /// plugin; the exit status.
  CLUSTER_DECL int check() const;
  CLUSTER_DECL void adopt_predecessor();
  CLUSTER_DECL void bind_listeners();
  CLUSTER_DECL void spawn_worker(unsigned id);
  /// Makes the descriptors of the next worker (`spare_`) ahead of its fork, once the last one is
  /// forked.
  CLUSTER_DECL void prepare_spare();
  /// Whether the master can judge a worker hung or past a request's deadline: then the worker has
  /// somewhere to write its stack.
  [[nodiscard]] bool traceable() const noexcept {
    return liveness_.enabled() || plan_.settings.request_deadline.count() > 0;
  }
  [[noreturn]] CLUSTER_DECL void become_worker(ipc::worker_setup const& setup, int master_end);
  CLUSTER_DECL void watch_channel(int pid);
  CLUSTER_DECL void watch_exit(int pid);
  CLUSTER_DECL void spawn_failed(unsigned id, std::string const& why);
  CLUSTER_DECL void arm_sweep();
  CLUSTER_DECL bool drain_channel(int pid);
  CLUSTER_DECL void on_all_connected();
  CLUSTER_DECL void stop_worker(int pid);
  CLUSTER_DECL void arm_deadline();
  CLUSTER_DECL void kill_overdue();
  CLUSTER_DECL void arm_respawn();
  CLUSTER_DECL void nominate_recycles(clock::time_point now);
  CLUSTER_DECL void step_recycle();
  CLUSTER_DECL void arm_health();
  CLUSTER_DECL void check_health();
  CLUSTER_DECL void on_hung(int pid, detail::supervisor::entry const& w, link& l, detail::hang why,
                            std::optional<clock::time_point> beat, clock::time_point now);
  CLUSTER_DECL void kill_hung(int pid, link& l);
  CLUSTER_DECL void reap();
  CLUSTER_DECL void handle_exit(os::exit_status const& status);
  CLUSTER_DECL void step_roll(os::exit_status const* exit = nullptr,
                              detail::supervisor::entry const* dead = nullptr);
  CLUSTER_DECL void give_up(os::exit_status const& status, detail::supervisor::entry const& last);
  CLUSTER_DECL void stop_for_fatal(detail::supervisor::entry const& last);
  CLUSTER_DECL void finish_if_done();
  CLUSTER_DECL void begin_restart(int stop_signal);
  CLUSTER_DECL void successor_ready(int stop_signal);
  CLUSTER_DECL void restart_failed(std::string const& why);
  CLUSTER_DECL void abandon_successor();
  CLUSTER_DECL void notify(std::string const& state) const;
  [[nodiscard]] CLUSTER_DECL std::string status_line() const;
  [[nodiscard]] CLUSTER_DECL bool healthy() const;
  CLUSTER_DECL void wait_signal();
  CLUSTER_DECL void on_signal(int sig);
  CLUSTER_DECL void remove_unix_sockets();

  /// How long a heartbeat may be old for its worker to count as alive for the watchdog.
  static constexpr std::chrono::milliseconds stale_heartbeat{1000};
  /// How long a hung worker has, once sent the trace signal, to write its stack before SIGKILL.
  static constexpr std::chrono::milliseconds trace_grace{1000};
  /// The least time between the starts of two recycles: never a burst of replacements.
  static constexpr std::chrono::milliseconds recycle_spacing{1000};
  /// Scoreboard slots: enough for any worker count a machine runs; beyond, workers have no slot
  /// (the watchdog then trusts their `connected` report).
  static constexpr std::size_t scoreboard_slots = 1024;
  /// How often every worker's status is asked for, whatever signals or pidfds said: the last
  /// line of defence should both be lost.
  static constexpr std::chrono::milliseconds reap_sweep_interval{1000};
  /// The first wait after fork() fails, doubled at each failure in a row up to the limit.
  static constexpr std::chrono::milliseconds fork_retry_first{100};
  static constexpr std::chrono::milliseconds fork_retry_limit{5000};

  master_sink& sink_;
  master_plan plan_;
  boost::asio::io_context io_{1};
  boost::asio::signal_set signals_;
  boost::asio::steady_timer deadline_;    ///< the next graceful-stop deadline, if any
  boost::asio::steady_timer health_;      ///< the liveness check's tick
  boost::asio::steady_timer respawn_;     ///< the next replacement a crash loop made wait
  boost::asio::steady_timer sweep_;       ///< the reaping sweep's tick
  boost::asio::steady_timer fork_retry_;  ///< the next attempt at workers fork() refused
  std::set<unsigned> unforked_;           ///< ids whose fork() failed, tried again then
  unsigned fork_failures_ = 0;            ///< in a row, for the retry's backoff
  bool fork_retry_pending_ = false;
  detail::liveness liveness_;
  detail::delayed_restart restart_delay_;  ///< a restart delayed as cyclic
  std::vector<os::listener> listeners_;
  std::vector<std::pair<dev_t, ino_t>> unix_inodes_;
  os::pipe_ends death_pipe_;
  os::credentials credentials_;
  detail::supervisor sup_;
  std::map<int, link> links_;
  std::vector<link> dying_;  ///< a dead worker's, closed once its exit is handled (handle_exit)
  /// What the next worker needs, made ahead (prepare_spare): its channel, and the file for its
  /// stack when the master can judge it hung.
  struct spare {
    std::pair<os::unique_fd, os::unique_fd> channel;
    os::unique_fd trace;
  };
  std::optional<spare> spare_;
  std::vector<int> master_only_;  ///< descriptors plugins keep from workers (keep_from_workers)
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
  systemd::watchdog_feeder watchdog_;
  bool took_over_ = false;
  bool ready_ = false;
  bool rolling_notified_ = false;
  bool reap_all_ = false;
  bool pidfds_ = false;  ///< each worker's end is watched as a descriptor (Linux 5.3 and later)
  bool memory_unknown_ = false;  ///< the kernel does not report PSS: said once
  int exit_status_ = 0;
  bool finished_ = false;
};

}  // namespace cluster

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/master/impl/core.ipp>
#endif
