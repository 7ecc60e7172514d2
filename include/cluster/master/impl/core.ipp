// SPDX-License-Identifier: BSL-1.0
// The definitions of master_core: inline in every program (header-only), or compiled once into
// the cluster::compiled library (CLUSTER_SEPARATE_COMPILATION, through <cluster/src.hpp>).
#pragma once

#include <cluster/ipc/channel.hpp>
#include <cluster/master/core.hpp>
#include <cluster/os/address.hpp>
#include <cluster/os/startup_error.hpp>
#include <cluster/os/successor.hpp>
#include <cluster/os/title.hpp>
#include <cluster/restart_state.hpp>

#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <set>
#include <system_error>
#include <utility>

namespace cluster {

CLUSTER_DECL master_core::master_core(master_sink& sink, master_plan plan)
    : sink_(sink),
      plan_(plan),
      signals_(io_),
      deadline_(io_),
      health_(io_),
      respawn_(io_),
      sweep_(io_),
      fork_retry_(io_),
      liveness_(plan.settings.liveness_timeout, plan.settings.boot_timeout),
      restart_delay_(io_),
      successor_(io_),
      predecessor_(io_),
      watchdog_(io_) {}

CLUSTER_DECL master_core::~master_core() = default;

CLUSTER_DECL void detail::core_deleter::operator()(master_core* core) const noexcept {
  delete core;  // NOLINT(cppcoreguidelines-owning-memory): the deleter of master_core_ptr
}

CLUSTER_DECL master_core_ptr make_master_core(master_sink& sink, master_plan plan) {
  return master_core_ptr(new master_core(sink, plan));
}

CLUSTER_DECL detail::master_ops& operations(master_core& core) noexcept { return core; }

CLUSTER_DECL int run_master_core(master_core& core) { return core.run(); }

CLUSTER_DECL int master_core::run() {
  if (char const* unit = std::getenv("CLUSTER_PRINT_UNIT"))
    return systemd::print_unit(unit, plan_.settings, plan_.listeners, plan_.signals);
  if (char const* c = std::getenv("CLUSTER_CHECK"); c != nullptr && *c != '\0') return check();
  try {
    start();
  } catch (startup_error const& e) {
    return refuse_start(e.what());
  } catch (std::exception const& e) {
    return refuse_start(std::string("cluster: cannot start: ") + e.what());
  }
  // Workers that can be asked for their stack inherit the unwinder loaded, rather than each
  // loading it on its way to accepting.
  if (liveness_.enabled() || plan_.settings.request_deadline.count() > 0) os::load_unwinder();
  // Not through spawn(int): a count above INT_MAX is a valid setting and must not turn negative.
  for (unsigned id : sup_.grow(plan_.settings.workers)) spawn_worker(id);
  if (!finished_) io_.run();
  remove_unix_sockets();
  return exit_status_;
}

CLUSTER_DECL int master_core::refuse_start(std::string const& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  // The plugins that started remove what they wrote (a pid file, a control socket) and the
  // logger says why; one failing here must not hide the reason the start was refused.
  std::string_view why = message;
  if (why.starts_with("cluster: ")) why.remove_prefix(9);
  try {
    sink_.deliver(events::start_refused{why});
  } catch (std::exception const& e) {
    std::fprintf(stderr, "cluster: while refusing the start: %s\n", e.what());
  }
  remove_unix_sockets();
  return 1;
}

//=== operations ===//

CLUSTER_DECL void master_core::spawn(int n) {
  if (n > 0) {
    for (unsigned id : sup_.grow(static_cast<unsigned>(n))) spawn_worker(id);
  } else if (n < 0) {
    auto const now = clock::now();
    for (int pid : sup_.shrink(static_cast<unsigned>(-n), now)) stop_worker(pid);
    step_roll();
  }
}

CLUSTER_DECL void master_core::close() {
  if (sup_.state() != master_state::active) return;
  auto const now = clock::now();
  auto const pids = sup_.begin_graceful(now);
  abandon_successor();
  if (!handed_over_) notify("STOPPING=1\nSTATUS=stopping gracefully");
  sink_.deliver(events::closing{true});
  for (int pid : pids) stop_worker(pid);
  finish_if_done();
}

CLUSTER_DECL void master_core::destroy() {
  if (!sup_.begin_hard()) return;
  abandon_successor();
  if (!handed_over_) notify("STOPPING=1\nSTATUS=stopping");
  sink_.deliver(events::closing{false});
  kill(SIGKILL);
  finish_if_done();
}

CLUSTER_DECL void master_core::kill(int signal) {
  sink_.deliver(events::kill{signal});
  sup_.signalled(signal);
  for (auto const& [pid, w] : sup_.workers()) ::kill(pid, signal);
}

CLUSTER_DECL int master_core::kill_worker(unsigned id, int signal) {
  int const pid = pid_of(id);
  if (pid == 0) return 0;
  sup_.signalled(pid, signal);
  ::kill(pid, signal);
  return pid;
}

CLUSTER_DECL void master_core::restart(int stop_signal) {
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
  auto const threshold = plan_.settings.restart_threshold;
  if (last_restart_ && now - *last_restart_ < threshold) {
    auto const delay = plan_.settings.restart_timeout;
    auto const ago = std::chrono::duration_cast<std::chrono::milliseconds>(now - *last_restart_);
    std::fprintf(stderr,
                 "cluster: cyclic restart: the last restart was %lld ms ago (restart threshold "
                 "%lld ms); restarting in %lld ms\n",
                 static_cast<long long>(ago.count()), static_cast<long long>(threshold.count()),
                 static_cast<long long>(delay.count()));
    restart_delay_.start(delay, [this, stop_signal] {
      if (sup_.state() == master_state::active && !handed_over_) begin_restart(stop_signal);
    });
    sink_.deliver(events::cyclic_restart{delay});
    return;
  }
  begin_restart(stop_signal);
}

CLUSTER_DECL void master_core::restart_workers() {
  bool const joined = sup_.rolling();
  if (!sup_.begin_roll()) return;
  if (!rolling_notified_) {
    rolling_notified_ = true;
    notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(os::monotonic_usec()) +
           "\nSTATUS=restarting the workers");
  }
  if (!joined) sink_.deliver(events::rolling_restart_started{});
  step_roll();
}

CLUSTER_DECL void master_core::reopen_logs() {
  sink_.deliver(events::reopen{});
  for (auto const& [pid, w] : sup_.workers()) ::kill(pid, SIGUSR1);
}

CLUSTER_DECL void master_core::keep_from_workers(int fd) {
  if (fd >= 0 && std::find(master_only_.begin(), master_only_.end(), fd) == master_only_.end())
    master_only_.push_back(fd);
}

CLUSTER_DECL void master_core::release_to_workers(int fd) { std::erase(master_only_, fd); }

//=== observers ===//

CLUSTER_DECL std::vector<worker_info> master_core::workers() const {
  std::vector<worker_info> out;
  out.reserve(sup_.workers().size());
  for (auto const& [pid, w] : sup_.workers()) {
    worker_info info;
    info.id = w.id;
    info.pid = pid;
    info.generation = w.generation;
    info.spawned_at = w.spawned_at;
    info.state = w.stopping    ? worker_state::stopping
                 : w.connected ? worker_state::ready
                               : worker_state::starting;
    if (auto const* last = sup_.last_exit(w.id); last && last->pid != pid) {
      info.last_exit =
          worker_exit_info{last->pid, last->exit_code, last->signal, last->reason, last->at};
    }
    out.push_back(info);
  }
  std::sort(out.begin(), out.end(), [](worker_info const& a, worker_info const& b) {
    return a.id != b.id ? a.id < b.id : a.spawned_at < b.spawned_at;
  });
  return out;
}

CLUSTER_DECL std::vector<waiting_info> master_core::waiting() const {
  std::vector<waiting_info> out;
  out.reserve(sup_.waiting().size());
  for (auto const& [id, until] : sup_.waiting()) {
    waiting_info info;
    info.id = id;
    info.deaths = sup_.deaths_in_a_row(id);
    info.until = until;
    if (auto const* last = sup_.last_exit(id))
      info.last_exit =
          worker_exit_info{last->pid, last->exit_code, last->signal, last->reason, last->at};
    out.push_back(info);
  }
  return out;
}

CLUSTER_DECL std::vector<std::string> master_core::written_paths() const {
  std::vector<std::string> out = sink_.plugin_paths();
  for (auto const& l : listeners_)
    if (l.name.starts_with("unix:")) out.push_back(l.name.substr(5));
  if (plan_.settings.socket_path.starts_with('/')) out.emplace_back(plan_.settings.socket_path);
  // Relative paths are the working directory's, where the master runs once started.
  std::string const here = os::current_directory() + "/";
  for (auto& p : out)
    if (!p.starts_with('/')) p.insert(0, here);
  return out;
}

CLUSTER_DECL std::vector<int> master_core::pids() const {
  std::vector<int> out;
  for (auto const& w : workers()) out.push_back(w.pid);
  return out;
}

CLUSTER_DECL int master_core::pid_of(unsigned id) const noexcept {
  for (auto const& [pid, w] : sup_.workers()) {
    if (w.id == id && !w.stopping) return pid;
  }
  return 0;
}

CLUSTER_DECL std::optional<ipc::slot_snapshot> master_core::counters_of(int pid) const noexcept {
  auto it = links_.find(pid);
  if (it == links_.end() || !it->second.slot) return std::nullopt;
  return ipc::read(scoreboard_[*it->second.slot]);
}

CLUSTER_DECL std::vector<std::string> master_core::addresses() const {
  std::vector<std::string> out;
  out.reserve(listeners_.size());
  for (auto const& l : listeners_) out.push_back(l.name);
  return out;
}

//=== start-up ===//

CLUSTER_DECL int master_core::check() const {
  // The settings, each on its own and against each other, were checked when the configuration
  // was resolved. What is left is what start() asks of the system, short of taking anything a
  // running master holds: no socket is bound, no file written, no plugin told.
  core_settings const& s = plan_.settings;
  try {
    (void)os::resolve_credentials(s.user, s.group);
    if (!s.working_directory.empty()) {
      std::string const dir(s.working_directory);
      if (::chdir(dir.c_str()) != 0) {
        throw startup_error("cluster: cannot change to working directory " + dir + ": " +
                            std::strerror(errno) +
                            "; set<\"working directory\"> to an existing one");
      }
    }
    for (endpoint const& ep : plan_.listeners) os::check_listener(ep);
  } catch (startup_error const& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  std::string where;
  for (endpoint const& ep : plan_.listeners)
    where += (where.empty() ? "" : ", ") + os::detail::endpoint_text(ep);
  std::fprintf(stderr,
               "cluster: configuration OK: environment %.*s, %u workers, listening on %s; nothing "
               "was bound or started\n",
               static_cast<int>(plan_.environment.size()), plan_.environment.data(), s.workers,
               where.empty() ? "nothing" : where.c_str());
  return 0;
}

CLUSTER_DECL void master_core::start() {
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
  core_settings const& s = plan_.settings;
  // The jitter of the crash loop's waits differs from master to master, like their pids.
  sup_ = detail::supervisor(plan_.crash_loop, s.timeout,
                            static_cast<std::uint64_t>(::getpid()) ^ os::monotonic_usec());
  credentials_ = os::resolve_credentials(s.user, s.group);
  if (!s.working_directory.empty()) {
    std::string const dir(s.working_directory);
    if (::chdir(dir.c_str()) != 0) {
      throw startup_error("cluster: cannot change to working directory " + dir + ": " +
                          std::strerror(errno) + "; set<\"working directory\"> to an existing one");
    }
  }
  // In the working directory, so that the relative paths plugins are given (a log directory)
  // mean the same as every other relative path. A plugin that cannot start (a missing
  // directory) throws `startup_error`: reported before anything is bound or forked.
  sink_.deliver(events::start{});
  bind_listeners();
  sink_.deliver(events::listening{});
  // Writing to a closed socket or pipe must be an error code in the master, never its death.
  ::signal(SIGPIPE, SIG_IGN);
  death_pipe_ = os::make_pipe();
  scoreboard_ = ipc::scoreboard(scoreboard_slots);
  // The check's clock starts now: a master stopped before its first check is seen as paused too.
  liveness_.tick(clock::now());
  arm_health();
  os::set_process_title(s.title);
  for (auto const& b : plan_.signals) signals_.add(b.signal);
  signals_.add(SIGCHLD);
  wait_signal();
  // A worker's end is learnt from its pidfd; SIGCHLD only wakes the master early, and the sweep
  // catches what both might miss. A kernel without pidfds leaves the signal and the sweep.
  {
    int const probe = os::open_pidfd(::getpid());
    pidfds_ = probe >= 0;
    if (pidfds_) {
      ::close(probe);
    } else {
      std::fprintf(stderr,
                   "cluster: no pidfd on this kernel (%s; Linux 5.3 or later has them): workers' "
                   "ends are noticed by SIGCHLD, and by a sweep every %lld ms should one be "
                   "lost\n",
                   std::strerror(errno), static_cast<long long>(reap_sweep_interval.count()));
    }
  }
  arm_sweep();
  if (predecessor_.present()) {
    predecessor_.watch([this](restart_state const& state) {
      took_over_ = true;
      sink_.deliver(events::restart{state});
      for (auto const& problem : state.problems()) std::fprintf(stderr, "%s\n", problem.c_str());
    });
  }
  // Keep-alives only while serving, and not before the predecessor is gone: until then it is
  // systemd's main process, and keep-alives from another pid would only be logged as refused.
  watchdog_.start(notifier_, [this] {
    return sup_.state() == master_state::active && !handed_over_ && !predecessor_.present() &&
           healthy();
  });
  sink_.run_actions();
}

CLUSTER_DECL void master_core::bind_listeners() {
  // Sockets handed over by systemd (or a previous master) replace the configured listeners:
  // the service manager owns the addresses then, and connections queued on them are kept.
  listeners_ = os::inherited_listeners();
  bool const adopted = !listeners_.empty();
  // Otherwise bind everything before forking anything: a port in use is reported once, by the
  // master, and workers only ever inherit sockets that are already listening.
  for (endpoint const& ep : adopted ? std::span<endpoint const>{} : plan_.listeners) {
    listeners_.push_back(os::bind_listener(ep, plan_.settings.backlog));
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
}

CLUSTER_DECL void master_core::adopt_predecessor() {
  if (char const* at = std::getenv(detail::restarted_at_variable)) {
    last_restart_ = clock::time_point(clock::duration(std::strtoll(at, nullptr, 10)));
    ::unsetenv(detail::restarted_at_variable);
  }
  predecessor_.adopt();
}

//=== workers ===//

CLUSTER_DECL void master_core::prepare_spare() {
  if (spare_ || finished_) return;
  try {
    spare kit{ipc::make_channel(), os::unique_fd(traceable() ? os::make_trace_file() : -1)};
    spare_ = std::move(kit);
  } catch (std::system_error const&) {
    // Out of descriptors: spawn_worker tries again when it needs them, and says why.
  }
}

CLUSTER_DECL void master_core::spawn_worker(unsigned id) {
  // The descriptors a worker needs were made after the previous fork (prepare_spare): the
  // replacement of a dead worker is forked without first waiting for them. `spare_` is empty
  // while fork() runs, so no worker inherits the next one's.
  std::optional<spare> kit = std::exchange(spare_, std::nullopt);
  try {
    if (!kit) kit = spare{ipc::make_channel(), os::unique_fd(-1)};
  } catch (std::system_error const& e) {
    spawn_failed(id, e.code().message());  // out of descriptors
    return;
  }
  auto& [master_end, worker_end] = kit->channel;
  ipc::worker_setup setup;
  setup.id = id;
  setup.master_pid = ::getpid();
  for (auto const& l : listeners_) setup.listener_fds.push_back(l.fd.get());
  setup.channel_fd = worker_end.get();
  setup.death_fd = death_pipe_.read.get();
  setup.credentials = credentials_;
  setup.title = ipc::worker_title(plan_.settings.worker_title, id);
  auto slot = scoreboard_.acquire();
  if (slot) setup.slot = &scoreboard_[*slot];
  // Only a worker the master can judge hung, or past a request's deadline, needs somewhere to
  // write its stack, and only one with a slot is asked for it.
  if (!slot) {
    kit->trace.reset();
  } else if (traceable() && !kit->trace) {
    kit->trace = os::unique_fd(os::make_trace_file());
  }
  setup.trace_fd = kit->trace.get();
  // The request in flight names what hung a worker; their count is what `max requests` reads.
  setup.record_requests =
      liveness_.heartbeat_timeout() > detail::liveness::clock::duration::zero() ||
      plan_.settings.max_requests > 0 || plan_.settings.request_deadline.count() > 0;
  setup.request_deadline = plan_.settings.request_deadline;

  pid_t pid;
  {
    // Asio keeps process-wide state (the pipe its signal handler writes to, the epoll and timer
    // descriptors): prepared here so that the child can get its own, and not read or write the
    // master's.
    os::signal_block blocked;
    io_.notify_fork(boost::asio::execution_context::fork_prepare);
    pid = ::fork();
    if (pid == 0) become_worker(setup, master_end.get());
    io_.notify_fork(boost::asio::execution_context::fork_parent);
  }
  if (pid < 0) {
    int const error = errno;
    if (slot) scoreboard_.release(*slot);
    spare_ = std::move(kit);  // unused: the next attempt takes it
    spawn_failed(id, std::strerror(error));
    return;
  }
  // The new worker usually starts on this CPU, behind the master: let it run first, towards its
  // first accept(). What follows here (watching it, the next worker's descriptors, the event)
  // can wait that long.
  ::sched_yield();
  if (fork_failures_ > 0) {
    std::fprintf(stderr, "cluster: forked worker %u after %u failed attempts\n", id,
                 fork_failures_);
    fork_failures_ = 0;
  }
  worker_end.reset();
  auto const now = clock::now();
  auto const verdict = sup_.started(id, pid, now);
  link& l = links_[pid];
  l.channel = std::make_unique<descriptor>(io_, master_end.release());
  l.slot = slot;
  l.trace = std::move(kit->trace);
  watch_channel(pid);
  if (pidfds_) {
    if (int const fd = os::open_pidfd(pid); fd >= 0) {
      l.exit_watch = std::make_unique<descriptor>(io_, fd);
      watch_exit(pid);
    }
  }
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
  sink_.deliver(events::worker_spawned{id, pid});
  prepare_spare();
}

CLUSTER_DECL void master_core::spawn_failed(unsigned id, std::string const& why) {
  // Out of processes (RLIMIT_NPROC, a cgroup's pids.max), memory or descriptors: the workers
  // that run keep serving, and the missing ones are tried again, less and less often.
  ++fork_failures_;
  unforked_.insert(id);
  auto const delay = std::min<std::chrono::milliseconds>(
      fork_retry_first * (1U << std::min(fork_failures_ - 1, 16U)), fork_retry_limit);
  std::fprintf(stderr,
               "cluster: cannot fork worker %u: %s; trying again in %lld ms, serving with %zu "
               "workers\n",
               id, why.c_str(), static_cast<long long>(delay.count()), sup_.workers().size());
  if (fork_retry_pending_) return;
  fork_retry_pending_ = true;
  fork_retry_.expires_after(delay);
  fork_retry_.async_wait([this](boost::system::error_code ec) {
    fork_retry_pending_ = false;
    if (ec || finished_) return;
    std::set<unsigned> const ids = std::exchange(unforked_, {});
    for (unsigned const again : ids) {
      if (sup_.wants(again)) spawn_worker(again);
    }
  });
}

CLUSTER_DECL void master_core::become_worker(ipc::worker_setup const& setup, int master_end) {
  // Still with every signal blocked. Asio's own record of the master's signals goes first (else
  // a signal_set of the worker's for SIGHUP would find it "already handled" and never install a
  // handler); then its process-wide descriptors are replaced by the child's own: until then the
  // worker shared the master's signal pipe, and a worker's io_context could read the byte the
  // master's SIGCHLD wrote (a worker's death never seen), or write one the master took for its
  // own signal.
  boost::system::error_code ignored;
  signals_.clear(ignored);
  try {
    io_.notify_fork(boost::asio::execution_context::fork_child);
  } catch (std::exception const& e) {
    std::fprintf(stderr, "cluster: worker %u cannot set up its event loop: %s\n", setup.id,
                 e.what());
    os::exit_child(1);
  }
  os::reset_signals_in_child();
  // SIGTERM when the master dies, even by SIGKILL; if it already died, leave now.
  if (!os::follow_parent(setup.master_pid, SIGTERM)) os::exit_child(0);
  // Close the master's ends: the death pipe's write end (else EOF never comes), every worker's
  // channel (a worker must not hold its siblings' channels open), our own, and the handoff
  // sockets (a successor must see EOF when its predecessor master is gone). These are raw
  // close() calls on purpose: the master's Asio objects are never touched in the child (see
  // os::exit_child).
  ::close(death_pipe_.write.get());
  ::close(master_end);
  auto close_link = [](link const& l) {
    if (l.channel) ::close(l.channel->native_handle());
    if (l.exit_watch) ::close(l.exit_watch->native_handle());
    if (l.trace) ::close(l.trace.get());
  };
  for (auto const& [other, l] : links_) close_link(l);
  for (link const& l : dying_) close_link(l);
  if (int const fd = successor_.handoff_fd(); fd >= 0) ::close(fd);
  if (int const fd = predecessor_.handoff_fd(); fd >= 0) ::close(fd);
  for (int const fd : master_only_) ::close(fd);
  os::exit_child(sink_.run_worker(setup));
}

CLUSTER_DECL void master_core::watch_exit(int pid) {
  auto it = links_.find(pid);
  if (it == links_.end() || !it->second.exit_watch) return;
  it->second.exit_watch->async_wait(descriptor::wait_read,
                                    [this, pid](boost::system::error_code ec) {
                                      // Cancelled when the worker was reaped by another path
                                      // (SIGCHLD, the sweep): its link, and this descriptor, are
                                      // gone.
                                      if (ec || finished_) return;
                                      if (auto status = os::reap(pid)) handle_exit(*status);
                                      finish_if_done();
                                    });
}

CLUSTER_DECL void master_core::arm_sweep() {
  sweep_.expires_after(reap_sweep_interval);
  sweep_.async_wait([this](boost::system::error_code ec) {
    if (ec || finished_) return;
    reap();
    if (!finished_) arm_sweep();
  });
}

CLUSTER_DECL void master_core::watch_channel(int pid) {
  auto it = links_.find(pid);
  if (it == links_.end() || !it->second.channel) return;
  it->second.channel->async_wait(descriptor::wait_read, [this, pid](boost::system::error_code ec) {
    if (ec) return;
    if (drain_channel(pid)) watch_channel(pid);
  });
}

CLUSTER_DECL bool master_core::drain_channel(int pid) {
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
        sup_.connected(pid, clock::now());
        sink_.deliver(events::worker_connected{w->id, pid});
        step_roll();
        step_recycle();
        if (sup_.all_connected()) on_all_connected();
        break;
      case ipc::message_type::exception:
        w->last_error = m.text;
        sink_.deliver(events::worker_exception{w->id, pid, w->last_error});
        break;
      case ipc::message_type::waiting:
        sink_.deliver(events::worker_waiting{w->id, pid, m.value});
        break;
    }
  }
}

CLUSTER_DECL void master_core::on_all_connected() {
  if (ready_) return;
  ready_ = true;
  // Plugins first: a restarted master's plugins take over what they share with the predecessor
  // (pid files, the control socket) before the predecessor is told and begins to stop, so that
  // its clean-up never races with their writes.
  sink_.deliver(events::ready{sup_.target()});
  if (predecessor_.present()) {
    // The predecessor tells systemd (it is still the main process): MAINPID, then READY.
    predecessor_.announce_ready();
  } else {
    notify("READY=1\n" + status_line());
  }
  // A fixed, parseable line, like "listening on": scripts and tests wait for it to know that the
  // cluster serves, without sending it a request.
  std::string line = "cluster: ready";
  for (std::size_t i = 0; i < listeners_.size(); ++i)
    line += (i == 0 ? " on " : ", ") + listeners_[i].name;
  unsigned const n = sup_.target();
  line += " (" + std::to_string(n) + (n == 1 ? " worker)\n" : " workers)\n");
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

CLUSTER_DECL void master_core::stop_worker(int pid) {
  ::kill(pid, SIGQUIT);
  arm_deadline();
}

CLUSTER_DECL void master_core::arm_deadline() {
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

CLUSTER_DECL void master_core::kill_overdue() {
  for (int pid : sup_.overdue(clock::now())) {
    auto const* w = sup_.find(pid);
    ::kill(pid, SIGKILL);
    sink_.deliver(events::worker_timeout{w->id, pid, plan_.settings.timeout});
  }
}

//=== crash loops (docs/health.md) ===//

CLUSTER_DECL void master_core::arm_respawn() {
  auto const next = sup_.next_due();
  if (!next) {
    respawn_.cancel();
    return;
  }
  respawn_.expires_at(*next);
  respawn_.async_wait([this](boost::system::error_code ec) {
    if (ec || finished_) return;
    for (unsigned id : sup_.due(clock::now())) {
      if (sup_.wants(id)) spawn_worker(id);
    }
    arm_respawn();
  });
}

//=== recycling (docs/health.md) ===//

CLUSTER_DECL void master_core::nominate_recycles(clock::time_point now) {
  auto const& s = plan_.settings;
  for (auto const& [pid, w] : sup_.workers()) {
    if (!w.connected || w.stopping || w.recycled != detail::recycle::none) continue;
    auto it = links_.find(pid);
    if (it == links_.end() || it->second.hung_at) continue;
    link& l = it->second;
    detail::recycle why = detail::recycle::none;
    if (s.max_requests > 0 && l.slot) {
      auto const served = scoreboard_[*l.slot].busy_serial.load(std::memory_order_relaxed);
      auto const limit = detail::supervisor::jittered(std::uint64_t{s.max_requests}, w);
      if (served >= limit) {
        why = detail::recycle::requests;
        l.recycle_why =
            std::to_string(served) + " requests, max requests " + std::to_string(s.max_requests);
      }
    }
    if (why == detail::recycle::none && s.max_age.count() > 0) {
      auto const limit = detail::supervisor::jittered(clock::duration(s.max_age), w);
      if (now - w.spawned_at >= limit) {
        why = detail::recycle::age;
        l.recycle_why =
            "up " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(now - w.spawned_at).count()) +
            " ms, max age " + std::to_string(s.max_age.count()) + " ms";
      }
    }
    if (why == detail::recycle::none && s.max_memory > 0 && !memory_unknown_) {
      if (auto const kib = os::owned_memory_kib(pid)) {
        if (*kib >= std::uint64_t{s.max_memory} * 1024) {
          why = detail::recycle::memory;
          l.recycle_why = "owns " + std::to_string(*kib / 1024) + " MiB (PSS), max memory " +
                          std::to_string(s.max_memory) + " MiB";
        }
      } else if (!os::owned_memory_kib(::getpid())) {  // not this worker's end: the kernel
        memory_unknown_ = true;
        std::fprintf(stderr,
                     "cluster: this kernel does not report the memory a worker owns "
                     "(/proc/<pid>/smaps_rollup, Linux 4.14); max memory is not enforced\n");
        std::fflush(stderr);
      }
    }
    if (why != detail::recycle::none) sup_.nominate(pid, why);
  }
}

CLUSTER_DECL void master_core::step_recycle() {
  if (!plan_.settings.recycles()) return;
  auto const act = sup_.recycle_step(clock::now(), plan_.settings.recycle_at_once, recycle_spacing);
  for (int pid : act.stop) stop_worker(pid);
  if (!act.spawn) return;
  auto const it = links_.find(act.replacing);
  std::fprintf(stderr, "cluster: recycling worker %u (pid %d): %s; starting its replacement\n",
               *act.spawn, act.replacing,
               it == links_.end() ? "due" : it->second.recycle_why.c_str());
  std::fflush(stderr);
  spawn_worker(*act.spawn);
}

//=== liveness (docs/health.md) ===//

CLUSTER_DECL void master_core::arm_health() {
  if (!liveness_.enabled() && !plan_.settings.recycles() &&
      plan_.settings.request_deadline.count() == 0)
    return;
  health_.expires_after(detail::liveness::check_interval);
  health_.async_wait([this](boost::system::error_code ec) {
    if (ec || finished_) return;
    check_health();
    arm_health();
  });
}

CLUSTER_DECL void master_core::check_health() {
  auto const now = clock::now();
  liveness_.tick(now);
  if (sup_.state() == master_state::hard_shutdown) return;
  for (auto const& [pid, w] : sup_.workers()) {
    auto it = links_.find(pid);
    if (it == links_.end() || w.overdue) continue;
    link& l = it->second;
    if (l.hung_at) {
      if (!l.killed && now - *l.hung_at >= trace_grace) kill_hung(pid, l);
      continue;
    }
    std::optional<clock::time_point> beat;
    if (l.slot) {
      auto const ms = scoreboard_[*l.slot].heartbeat.load(std::memory_order_relaxed);
      if (ms > 0) beat = clock::time_point(std::chrono::milliseconds(ms));
    }
    // A worker a debugger has just let go needs a moment to beat again.
    if (beat && l.released && *l.released > *beat) beat = l.released;
    std::optional<clock::time_point> connected_at;
    if (w.connected) connected_at = w.connected_at;
    auto why = liveness_.judge(w.spawned_at, connected_at, beat, now);
    // A synchronous handler in a request with a deadline holds the worker's loop for as long as
    // its request may run: the deadline, not the liveness timeout, bounds it, and past it only
    // the master can end it.
    if (l.slot && !l.debugged) {
      auto const& slot = scoreboard_[*l.slot];
      auto const since = slot.busy_since.load(std::memory_order_acquire);
      auto const limit = slot.busy_deadline.load(std::memory_order_relaxed);
      std::optional<clock::time_point> entered;
      if (since > 0) entered = clock::time_point(std::chrono::milliseconds(since));
      why = liveness_.judge_request(why, entered, std::chrono::milliseconds(limit), now);
    }
    if (why != detail::hang::none) on_hung(pid, w, l, why, beat, now);
  }
  if (plan_.settings.recycles()) {
    nominate_recycles(now);
    step_recycle();
  }
}

CLUSTER_DECL void master_core::on_hung(int pid, detail::supervisor::entry const& w, link& l,
                                       detail::hang why, std::optional<clock::time_point> beat,
                                       clock::time_point now) {
  // A worker held by a debugger (stopped at a breakpoint) is not hung: it is being looked at.
  if (int const tracer = os::tracer_of(pid); tracer != 0) {
    if (!l.debugged) {
      std::fprintf(stderr,
                   "cluster: worker %u (pid %d) is held by a debugger (pid %d); it is not judged "
                   "hung while it is\n",
                   w.id, pid, tracer);
      std::fflush(stderr);
    }
    l.debugged = true;
    return;
  }
  if (l.debugged) {
    // The debugger has just let it go: its clock starts now, not at its last beat.
    l.debugged = false;
    l.released = now;
    return;
  }
  auto const ms = [](clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  if (why == detail::hang::no_heartbeat) {
    auto const last = beat ? std::max(*beat, w.connected_at) : w.connected_at;
    l.why = "no heartbeat for " + ms(now - last) + " ms, liveness timeout " +
            ms(liveness_.heartbeat_timeout()) + " ms";
  } else if (why == detail::hang::never_accepted) {
    l.why = "not accepting " + ms(now - w.spawned_at) + " ms after its start, boot timeout " +
            ms(liveness_.boot_timeout()) + " ms";
  } else {
    l.why = "its request past its deadline of " +
            std::to_string(scoreboard_[*l.slot].busy_deadline.load(std::memory_order_relaxed)) +
            " ms";
  }
  sup_.hung(pid, why);
  l.hung_at = now;
  bool traced = false;
  if (l.slot) {
    auto& slot = scoreboard_[*l.slot];
    if (auto const a = ipc::read_activity(slot)) {
      std::string client =
          os::address_text(reinterpret_cast<sockaddr const*>(a->client.data()), a->client.size());
      if (client.empty()) client = "unix";
      l.request = a->request + " from " + client + ", for " +
                  std::to_string(ipc::heartbeat_now() - a->since) + " ms";
    }
    slot.trace_requested.store(1, std::memory_order_relaxed);
    traced = l.trace && os::send_trace_signal(pid);
  }
  std::fprintf(stderr, "cluster: worker %u (pid %d) is hung (%s)%s; %s\n", w.id, pid, l.why.c_str(),
               l.request.empty() ? "" : (" in " + l.request).c_str(),
               traced ? "asking it for its stack, then killing it" : "killing it");
  std::fflush(stderr);
  if (!traced) kill_hung(pid, l);
}

CLUSTER_DECL void master_core::kill_hung(int pid, link& l) {
  // The handler could not run (the worker is stopped, or stuck in the kernel): what /proc shows
  // is all there is, and only while the process still exists.
  if (os::read_trace(l.trace.get(), executable_).empty()) l.proc = os::proc_report(pid);
  ::kill(pid, SIGKILL);
  l.killed = true;
}

CLUSTER_DECL void master_core::reap() {
  if (reap_all_) {
    // PID 1: any child may have ended, ours or an orphan's; collect them all.
    while (auto status = os::reap(-1)) handle_exit(*status);
  } else {
    std::vector<int> candidates;
    candidates.reserve(sup_.workers().size() + 1);
    for (auto const& [pid, w] : sup_.workers()) candidates.push_back(pid);
    if (successor_.running()) candidates.push_back(successor_.pid());
    for (int pid : candidates) {
      if (auto status = os::reap(pid)) handle_exit(*status);
    }
  }
  finish_if_done();
}

CLUSTER_DECL void master_core::handle_exit(os::exit_status const& status) {
  using outcome = detail::supervisor::outcome;
  if (successor_.running() && status.pid == successor_.pid()) {
    successor_.exited(status);
    return;
  }
  if (!sup_.find(status.pid)) return;  // an orphan a PID 1 master reaped for the system
  // Messages sent just before dying (the exception text) may still be queued.
  drain_channel(status.pid);
  // The dead worker's descriptors (its channel, pidfd, trace file) are closed once this exit is
  // handled, after its replacement is forked: closing them, a file's pages freed and two epoll
  // registrations removed, is not the replacement's business. Until then they stay in
  // `dying_`, which the replacement closes on its side (become_worker). Destroying a
  // descriptor cancels its pending wait.
  struct bury {
    std::vector<link>& dying;
    ~bury() { dying.clear(); }
  } const later{dying_};
  link* hung = nullptr;
  if (auto it = links_.find(status.pid); it != links_.end()) {
    if (it->second.slot) scoreboard_.release(*it->second.slot);
    it->second.slot.reset();
    dying_.push_back(std::move(it->second));
    links_.erase(it);
    if (dying_.back().hung_at) hung = &dying_.back();
  }
  detail::supervisor::entry w;
  auto const now = clock::now();
  outcome const what = sup_.exited(status.pid, now, w, status.code, status.signal);
  auto const why = sup_.classify(w, what, status.code, status.signal, now);
  if (hung) {
    std::string trace = os::read_trace(hung->trace.get(), executable_);
    if (trace.empty()) trace = hung->proc;
    std::string const head = "cluster: worker " + std::to_string(w.id) + " (pid " +
                             std::to_string(w.pid) + ") hung (" + hung->why + ")" +
                             (hung->request.empty() ? "" : " in " + hung->request) +
                             (what == outcome::replace ? "; killed and replaced" : "; killed");
    std::string indented;
    for (std::size_t at = 0; at < trace.size();) {
      auto const end = std::min(trace.find('\n', at), trace.size());
      indented.append("\n  ").append(trace, at, end - at);
      at = end + 1;
    }
    std::fprintf(stderr, "%s%s\n", head.c_str(),
                 trace.empty() ? "; no trace" : (":" + indented).c_str());
    std::fflush(stderr);
    sink_.deliver(events::worker_hung{w.id, w.pid, why, hung->why, hung->request, trace});
  }
  sink_.deliver(events::worker_killed{w.id, w.pid, status.code, status.signal, why});
  switch (what) {
    case outcome::unknown:
    case outcome::shutting_down:
      break;
    case outcome::removed:
      if (why == events::exit_reason::removed) sink_.deliver(events::worker_removed{w.id, w.pid});
      // A worker stopped by a rolling restart whose replacement died meanwhile: its slot
      // must not stay empty.
      if (sup_.wants(w.id)) spawn_worker(w.id);
      break;
    case outcome::replace:
      // The same id, at once: the worker count is maintained whatever killed the worker. A
      // plugin handling worker_killed may have shrunk the cluster or stopped it meanwhile.
      if (sup_.wants(w.id)) spawn_worker(w.id);
      break;
    case outcome::wait: {
      // The id keeps dying young: its replacement waits (docs/health.md, crash loops).
      auto const& d = sup_.last_death();
      auto const delay = std::chrono::ceil<std::chrono::milliseconds>(d.delay);
      std::fprintf(stderr,
                   "cluster: worker %u (pid %d) died %u times in a row soon after it started; "
                   "its replacement waits %lld ms\n",
                   w.id, w.pid, d.in_a_row, static_cast<long long>(delay.count()));
      std::fflush(stderr);
      sink_.deliver(events::worker_backoff{w.id, w.pid, d.in_a_row, delay});
      arm_respawn();
      break;
    }
    case outcome::give_up:
      give_up(status, w);
      return;
    case outcome::fatal:
      stop_for_fatal(w);
      return;
  }
  step_roll(&status, &w);
  step_recycle();
}

CLUSTER_DECL void master_core::step_roll(os::exit_status const* exit,
                                         detail::supervisor::entry const* dead) {
  using status = detail::supervisor::roll_action::status;
  auto const act = sup_.roll_step(clock::now());
  for (int pid : act.stop) stop_worker(pid);
  switch (act.what) {
    case status::idle:
    case status::waiting:
      break;
    case status::done:
      std::fprintf(stderr, "cluster: rolling restart: every worker replaced (%u)\n", act.replaced);
      rolling_notified_ = false;
      notify("READY=1\n" + status_line());
      sink_.deliver(events::rolling_restart_done{act.replaced});
      break;
    case status::failed: {
      std::string why = "it failed";
      if (exit && dead && dead->pid == act.failed_pid) {
        why = dead->last_error.empty() ? "it ended with " + os::describe_exit(*exit)
                                       : "its error was: " + dead->last_error;
      }
      std::fprintf(stderr,
                   "cluster: rolling restart stopped: the new worker %d died before it "
                   "accepted (%s); the other workers keep serving\n",
                   act.failed_pid, why.c_str());
      rolling_notified_ = false;
      notify("READY=1\nSTATUS=rolling restart failed: " + why);
      sink_.deliver(events::rolling_restart_failed{act.failed_pid, why});
      break;
    }
  }
  if (act.spawn) spawn_worker(*act.spawn);
}

CLUSTER_DECL void master_core::give_up(os::exit_status const& status,
                                       detail::supervisor::entry const& last) {
  unsigned const limit = sup_.crashes().policy().give_up_after;
  std::string const why = last.last_error.empty()
                              ? "the last one ended with " + os::describe_exit(status)
                              : "the last error was: " + last.last_error;
  std::fprintf(stderr,
               "cluster: workers keep dying before they serve (%u in a row), so the application "
               "looks broken; stopping gracefully. %s\n",
               limit, why.c_str());
  std::fflush(stderr);
  exit_status_ = 1;
  // Gracefully: the workers that do serve finish their requests (within `timeout`).
  close();
  notify("STATUS=gave up: workers keep dying before they serve (" + std::to_string(limit) +
         " in a row); " + why);
}

CLUSTER_DECL void master_core::stop_for_fatal(detail::supervisor::entry const& last) {
  std::string const why =
      last.last_error.empty() ? std::string("no message") : "its error was: " + last.last_error;
  std::fprintf(stderr,
               "cluster: worker %u (pid %d) exited with status %d: its error is one restarting "
               "cannot fix (%s); stopping gracefully\n",
               last.id, last.pid, fatal_exit_code, why.c_str());
  std::fflush(stderr);
  // The same status as the worker's: the unit the master prints tells systemd not to restart it.
  exit_status_ = fatal_exit_code;
  close();
  notify("STATUS=stopped: a worker reported a fatal error (" + why + ")");
}

CLUSTER_DECL void master_core::finish_if_done() {
  if (!sup_.finished() || finished_) return;
  finished_ = true;
  sink_.deliver(events::close{});
  io_.stop();
}

//=== master restart ===//

CLUSTER_DECL void master_core::begin_restart(int stop_signal) {
  last_restart_ = clock::now();
  notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(os::monotonic_usec()) +
         "\nSTATUS=restarting the master");
  restart_state state;
  sink_.deliver(events::restarting{state});

  auto plan = detail::plan_successor(executable_, command_, start_directory_, listeners_, notifier_,
                                     *last_restart_);
  try {
    successor_.start(
        std::move(plan), state.serialize(), plan_.settings.timeout,
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

CLUSTER_DECL void master_core::successor_ready(int stop_signal) {
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

CLUSTER_DECL void master_core::restart_failed(std::string const& why) {
  std::fprintf(stderr, "cluster: restart failed: %s; this master keeps serving\n", why.c_str());
  std::fflush(stderr);
  notify("READY=1\nSTATUS=restart failed: " + why);
  sink_.deliver(events::restart_failed{why});
}

CLUSTER_DECL void master_core::abandon_successor() {
  restart_delay_.cancel();
  successor_.abandon();
}

//=== service manager ===//

CLUSTER_DECL void master_core::notify(std::string const& state) const {
  if (notifier_.enabled()) notifier_.send(state);
}

CLUSTER_DECL std::string master_core::status_line() const {
  std::string where;
  for (auto const& l : listeners_) {
    if (!where.empty()) where += ", ";
    where += l.name;
  }
  std::string line = "STATUS=serving";
  if (!where.empty()) line.append(" on ").append(where);
  line.append(" with ").append(std::to_string(sup_.target())).append(" workers");
  return line;
}

CLUSTER_DECL bool master_core::healthy() const {
  // Every wanted worker accepts. Only then does the watchdog get its keep-alive, so that systemd
  // restarts a service that is up but no longer serves.
  // Ids waiting out a crash loop's delay excepted: such a worker is the master's to pace, and
  // systemd restarting the whole service for it would cut every healthy worker's requests short.
  if (!sup_.serving()) return false;
  // A worker stuck in a handler stops beating. With the liveness check on, the master traces
  // and replaces it itself: systemd restarting the whole service for it would cut every healthy
  // worker's requests short. Without it, the watchdog is the only defence.
  if (liveness_.heartbeat_timeout() > clock::duration::zero()) return true;
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

CLUSTER_DECL void master_core::wait_signal() {
  signals_.async_wait([this](boost::system::error_code ec, int sig) {
    if (ec) return;
    on_signal(sig);
    if (!finished_) wait_signal();
  });
}

CLUSTER_DECL void master_core::on_signal(int sig) {
  if (sig == SIGCHLD) {
    reap();
    return;
  }
  switch (action_of(plan_.signals, sig)) {
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
      restart(0);
      break;
    case master_action::restart_workers:
      restart_workers();
      break;
    case master_action::reopen_logs:
      reopen_logs();
      break;
  }
}

CLUSTER_DECL void master_core::remove_unix_sockets() {
  // Not after a handover: the successor listens on them now.
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

}  // namespace cluster
