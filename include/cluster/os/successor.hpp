// SPDX-License-Identifier: BSL-1.0
// Starting a successor master from the executable on disk, with the listening sockets inherited.
#pragma once

#include <cluster/os/fd.hpp>

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cluster::os {

/// The path of the running executable, as it was named on disk when the process started.
///
/// A successor is started from this path, not from /proc/self/exe: a deploy replaces the file
/// (a rename onto the path), and /proc/self/exe keeps pointing at the old, now deleted, image.
inline std::string executable_path() {
  char buf[PATH_MAX];
  ssize_t const n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string path(buf, static_cast<std::size_t>(n));
  // The kernel appends this when the file was replaced or removed since the exec.
  constexpr std::string_view deleted = " (deleted)";
  if (path.ends_with(deleted)) path.resize(path.size() - deleted.size());
  return path;
}

/// This process's command line, read from /proc/self/cmdline. Taken before the process title is
/// set, since the title is written over the memory that held argv.
inline std::vector<std::string> command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string const all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i] == '\0') {
      out.emplace_back(all, start, i - start);
      start = i + 1;
    }
  }
  if (start < all.size()) out.emplace_back(all, start);
  return out;
}

/// The current directory, to start a successor where this master was started (relative paths in
/// its arguments keep their meaning even though the master moved to its working directory).
inline std::string current_directory() {
  char buf[PATH_MAX];
  return ::getcwd(buf, sizeof buf) ? std::string(buf) : std::string();
}

/// What a successor master is started with.
struct successor_plan {
  std::string executable;                   ///< the file to execute
  std::vector<std::string> arguments;       ///< argv, argv[0] included
  std::string directory;                    ///< where to start it
  std::vector<int> listeners;               ///< become descriptors 3.. (LISTEN_FDS)
  std::vector<std::string> listener_names;  ///< LISTEN_FDNAMES, one per listener
  int handoff = -1;                         ///< becomes descriptor 3 + listeners.size()
  /// Extra environment variables (`NAME=value`) set in the successor only.
  std::vector<std::string> environment;
};

/// The environment variable naming the successor's end of the handoff socket.
inline constexpr char const* handoff_variable = "CLUSTER_HANDOFF_FD";

/// Forks and executes the successor; returns its pid. Throws on a failed fork(); a failed exec is
/// reported by the child on the handoff socket (`exec <errno>`), after which it exits with 127.
///
/// Called from the master's single thread: between fork() and exec() the child only rearranges
/// descriptors and its environment (setenv is safe there because no other thread can hold the
/// environment's lock in a single-threaded parent).
inline pid_t start_successor(successor_plan const& plan) {
  // Everything the child needs is built before fork(): no allocation in the child beyond setenv.
  std::vector<char*> argv;
  for (auto const& a : plan.arguments) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::string const count = std::to_string(plan.listeners.size());
  std::string names;
  for (std::size_t i = 0; i < plan.listener_names.size(); ++i) {
    if (i != 0) names += ':';
    names += plan.listener_names[i];
  }
  int const handoff_target = 3 + static_cast<int>(plan.listeners.size());
  std::string const handoff_text = std::to_string(handoff_target);

  pid_t const pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid != 0) return pid;

  // The child. Signals the master blocked around fork(), ignored (SIGPIPE) or caught are reset:
  // the mask and SIG_IGN survive exec(), and the successor must start as a fresh process would.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  auto fail = [&](int error) {
    std::string const text = "exec " + std::to_string(error) + "\n";
    [[maybe_unused]] auto n = ::write(plan.handoff, text.data(), text.size());
    ::_exit(127);
  };
  // Move every descriptor to pass out of the way first (above the final range), then into place:
  // a listener may already sit at 3, 4, ... where another one must go. dup2() clears
  // close-on-exec on the target, which is what lets exactly these descriptors through exec().
  std::vector<int> sources(plan.listeners);
  sources.push_back(plan.handoff);
  int const floor = handoff_target + 1;
  for (int& fd : sources) {
    int const moved = ::fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (moved < 0) fail(errno);
    fd = moved;
  }
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (::dup2(sources[i], 3 + static_cast<int>(i)) < 0) fail(errno);
  }
  ::setenv("LISTEN_FDS", count.c_str(), 1);
  std::string const self = std::to_string(::getpid());
  ::setenv("LISTEN_PID", self.c_str(), 1);
  ::setenv("LISTEN_FDNAMES", names.c_str(), 1);
  ::setenv(handoff_variable, handoff_text.c_str(), 1);
  ::unsetenv("CLUSTER_WORKER");
  for (auto const& kv : plan.environment) ::putenv(const_cast<char*>(kv.c_str()));
  if (!plan.directory.empty() && ::chdir(plan.directory.c_str()) != 0) fail(errno);
  ::execv(plan.executable.c_str(), argv.data());
  fail(errno);
  return -1;  // not reached
}

/// The successor's end of the handoff socket, from the environment (removed once read); -1 when
/// this master was not started by a predecessor.
inline int take_handoff_fd() {
  char const* text = std::getenv(handoff_variable);
  if (!text) return -1;
  int const fd = std::atoi(text);
  ::unsetenv(handoff_variable);
  if (fd < 3 || ::fcntl(fd, F_GETFD) < 0) return -1;
  set_cloexec(fd, true);
  return fd;
}

/// Reads exactly `n` bytes from `fd`, waiting at most `limit` in all; false on EOF, error or
/// timeout.
inline bool read_exactly(int fd, char* out, std::size_t n, std::chrono::milliseconds limit) {
  auto const until = std::chrono::steady_clock::now() + limit;
  while (n > 0) {
    auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int const ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    ssize_t const got = ::read(fd, out, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    out += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

/// The largest state a predecessor may hand over: far above what plugins need, small enough that
/// a corrupt length cannot make the successor allocate without bound.
inline constexpr std::uint64_t max_handoff_state = 16u << 20;

/// Reads the state a predecessor wrote on the handoff socket: an 8-byte length, then the bytes.
/// Empty on any failure (the successor then starts without state and says so).
inline std::optional<std::string> read_handoff_state(int fd, std::chrono::milliseconds limit) {
  std::uint64_t size = 0;
  if (!read_exactly(fd, reinterpret_cast<char*>(&size), sizeof size, limit)) return std::nullopt;
  if (size > max_handoff_state) return std::nullopt;
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (!read_exactly(fd, bytes.data(), bytes.size(), limit)) return std::nullopt;
  return bytes;
}

/// The bytes a predecessor writes for `state`: its length, then the state.
inline std::string frame_handoff_state(std::string_view state) {
  std::uint64_t const size = state.size();
  std::string out(reinterpret_cast<char const*>(&size), sizeof size);
  out.append(state);
  return out;
}

}  // namespace cluster::os
