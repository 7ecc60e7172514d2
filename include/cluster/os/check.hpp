// SPDX-License-Identifier: BSL-1.0
// Running a build's configuration check (CLUSTER_CHECK=1) from the master, before restarting onto
// it: what the reload plugin does with a new executable.
#pragma once

#include <cluster/os/fd.hpp>
#include <cluster/os/process.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace cluster::os {

/// A configuration check running in a child process: its pid, and the read end of the pipe its
/// stdout and stderr go to (non-blocking, close-on-exec), at end-of-file once it has exited.
struct check_child {
  pid_t pid = -1;
  unique_fd output;
};

/// In the child of start_check(): with the check's output on `out`, becomes `executable`.
[[noreturn]] inline void exec_check(std::string const& executable, std::vector<char*> const& argv,
                                    std::string const& directory, int out,
                                    std::string const& cannot) {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int const null = ::open("/dev/null", O_RDONLY);
  if (null >= 0) ::dup2(null, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  ::close_range(3, ~0U, 0);
  for (char const* v :
       {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "CLUSTER_HANDOFF_FD", "CLUSTER_WORKER"})
    ::unsetenv(v);
  ::setenv("CLUSTER_CHECK", "1", 1);
  if (!directory.empty() && ::chdir(directory.c_str()) != 0) {
    std::string const text = cannot + std::strerror(errno) + " (changing to " + directory + ")\n";
    [[maybe_unused]] auto n = ::write(2, text.data(), text.size());
    ::_exit(127);
  }
  ::execv(executable.c_str(), argv.data());
  std::string const text = cannot + std::strerror(errno) + "\n";
  [[maybe_unused]] auto n = ::write(2, text.data(), text.size());
  ::_exit(127);
}

/// Starts `executable` with the command line `arguments` (`argv[0]` first) in `directory` and
/// `CLUSTER_CHECK=1` in its environment, as a fresh process: default signal dispositions, no
/// blocked signal, stdin from /dev/null, no descriptor of the caller's beyond its two outputs,
/// and none of the variables that would make it take sockets or a handoff for its own
/// (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`, `CLUSTER_HANDOFF_FD`, `CLUSTER_WORKER`). An
/// executable that cannot be run shows as exit status 127 with `cannot execute PATH: why` on its
/// output. Throws `std::system_error` when the pipe or the fork fails.
///
/// For a single-threaded caller (the master): between fork() and exec() the child only
/// rearranges descriptors and its environment.
inline check_child start_check(std::string const& executable,
                               std::vector<std::string> const& arguments,
                               std::string const& directory) {
  std::vector<char*> argv;
  for (auto const& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
  if (argv.empty()) argv.push_back(const_cast<char*>(executable.c_str()));
  argv.push_back(nullptr);
  std::string const cannot = "cluster: cannot execute " + executable + ": ";
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  unique_fd read_end(fds[0]);
  unique_fd write_end(fds[1]);
  // No handler of the master's may run in the child before exec(): Asio's would write into the
  // signal pipe the child shares with the master, which would act on the child's signal.
  pid_t pid;
  {
    signal_block blocked;
    pid = ::fork();
    if (pid == 0) exec_check(executable, argv, directory, write_end.get(), cannot);
  }
  if (pid < 0) throw_errno("fork");
  write_end.reset();
  ::fcntl(read_end.get(), F_SETFL, ::fcntl(read_end.get(), F_GETFL) | O_NONBLOCK);
  return {pid, std::move(read_end)};
}

/// The last non-empty line of `output` (a check says one line; a crash may say more).
inline std::string last_line(std::string_view output) {
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r'))
    output.remove_suffix(1);
  auto const nl = output.rfind('\n');
  return std::string(nl == std::string_view::npos ? output : output.substr(nl + 1));
}

/// What a finished check said: its exit status (128 + the signal that ended it) and its last
/// line of output.
struct check_outcome {
  int status = -1;
  std::string line;
  [[nodiscard]] bool ok() const noexcept { return status == 0; }
};

/// Runs the check of `start_check` to its end, waiting at most `limit` (then the child is
/// killed, and the outcome says so). Blocks: for tools and tests; the master waits for
/// `check_child::output` in its event loop instead.
inline check_outcome run_check(std::string const& executable,
                               std::vector<std::string> const& arguments,
                               std::string const& directory, std::chrono::milliseconds limit) {
  check_child child = start_check(executable, arguments, directory);
  std::string output;
  auto const until = std::chrono::steady_clock::now() + limit;
  bool timed_out = false;
  for (;;) {
    auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{child.output.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    std::array<char, 4096> buf{};
    ssize_t const n = ::read(child.output.get(), buf.data(), buf.size());
    if (n == 0) break;
    if (n > 0 && output.size() < 65536) output.append(buf.data(), static_cast<std::size_t>(n));
  }
  // Its output closed, it is about to exit, unless it closed it on purpose and runs on.
  int st = 0;
  while (!timed_out && ::waitpid(child.pid, &st, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= until) {
      timed_out = true;
    } else {
      ::usleep(2000);
    }
  }
  if (timed_out) {
    ::kill(child.pid, SIGKILL);
    while (::waitpid(child.pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  check_outcome out;
  out.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  out.line = timed_out ? "cluster: the check did not finish within " +
                             std::to_string(limit.count()) + " ms"
                       : last_line(output);
  return out;
}

}  // namespace cluster::os
