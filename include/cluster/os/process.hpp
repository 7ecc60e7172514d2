// SPDX-License-Identifier: BSL-1.0
// Forking workers safely from the master, reaping them, and tying their life to the master's.
#pragma once

#include <cluster/os/fd.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

namespace cluster::os {

/// Blocks every signal for the lifetime of the object, then restores the previous mask.
///
/// Held across fork(): a signal arriving between fork() and the child's reset of its handlers
/// would otherwise run the master's handler in the child (Asio's handler writes into a pipe the
/// child shares with the master, so the master would act on the child's signal).
class signal_block {
 public:
  signal_block() {
    sigset_t all;
    ::sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, &saved_);
  }
  ~signal_block() { ::sigprocmask(SIG_SETMASK, &saved_, nullptr); }
  signal_block(signal_block const&) = delete;
  signal_block& operator=(signal_block const&) = delete;

 private:
  sigset_t saved_{};
};

/// In a freshly forked child: restores the default disposition of every caught signal.
///
/// Handlers installed by the master (through Asio) must not run in a worker; ignored signals
/// (SIGPIPE) keep being ignored, as the master chose. Called while signals are still blocked,
/// which they stay until `unblock_signals()`.
inline void reset_signals_in_child() {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction current {};
    if (::sigaction(sig, nullptr, &current) != 0) continue;
    if (current.sa_handler != SIG_IGN && current.sa_handler != SIG_DFL) {
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      ::sigemptyset(&dfl.sa_mask);
      ::sigaction(sig, &dfl, nullptr);
    }
  }
}

/// Unblocks every signal: the last step of a worker's set-up, once its own handlers are in place.
inline void unblock_signals() {
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

/// Arranges for this process to get `signal` when the master dies; false if it already has.
///
/// PR_SET_PDEATHSIG fires when the parent exits, but a parent that died before the call went
/// unnoticed: comparing getppid() with the master's pid afterwards closes that race.
inline bool follow_parent(pid_t master_pid, int signal) {
  ::prctl(PR_SET_PDEATHSIG, signal);
  return ::getppid() == master_pid;
}

/// How a child ended, from a waitpid() status.
struct exit_status {
  pid_t pid = 0;
  int code = 0;    ///< exit code when `signal == 0`
  int signal = 0;  ///< the signal that killed the child, or 0
};

/// How every message names `signal`: `SIGKILL`, or `signal 64` for a number without a name
/// (the real-time signals, a number no signal has).
inline std::string signal_name(int signal) {
  char const* abbrev = ::sigabbrev_np(signal);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(signal);
}

/// Describes how a process ended, for messages: `exit code 3`, `SIGKILL`.
inline std::string describe_exit(int code, int signal) {
  if (signal != 0) return signal_name(signal);
  return "exit code " + std::to_string(code);
}

inline std::string describe_exit(exit_status const& s) { return describe_exit(s.code, s.signal); }

/// Reaps the child `pid` if it has ended, without blocking; empty while it runs. With -1, any
/// child that has ended.
///
/// The master asks for each of its workers by pid rather than for any child (`waitpid(-1)`):
/// a plugin that runs a command of its own must get that command's status, not lose it to us.
/// Signals coalesce, so one SIGCHLD may stand for many deaths: every worker is asked. Only as
/// PID 1, where every orphan of the system becomes its child, does the master reap any child.
inline std::optional<exit_status> reap(pid_t child) {
  int status = 0;
  pid_t pid;
  do {
    pid = ::waitpid(child, &status, WNOHANG);
  } while (pid < 0 && errno == EINTR);
  if (pid <= 0) return std::nullopt;
  exit_status out{pid, 0, 0};
  if (WIFEXITED(status)) out.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  return out;
}

/// A descriptor that becomes readable once the child `pid` has ended (a pidfd), or -1 with errno
/// set: ENOSYS on a kernel older than Linux 5.3. Close-on-exec, as pidfds always are.
///
/// Unlike SIGCHLD, a pidfd cannot be coalesced, blocked or read by another process: the master
/// learns of each worker's end through its event loop even should a signal be lost.
inline int open_pidfd(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

/// Leaves a worker process without running the master's destructors.
///
/// The child shares kernel objects with the master (Asio's epoll instance among them): destroying
/// the master's objects in the child would deregister the master's descriptors from that shared
/// epoll set. So the child flushes stdio and calls _exit().
[[noreturn]] inline void exit_child(int code) {
  std::fflush(nullptr);
  ::_exit(code);
}

}  // namespace cluster::os
