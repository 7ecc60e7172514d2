// SPDX-License-Identifier: BSL-1.0
// For the tests of the control plane: a program run as a control tool (its stdin given, its
// stdout and stderr captured, killed if it overruns), and a unix socket client.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace cluster::testing {

/// What a run of a control tool printed, and how it ended.
struct tool_outcome {
  int status = -1;  ///< the exit status, or -1 if it could not run or had to be killed
  std::string out;
  std::string err;
};

/// Runs `path` with `args` in the environment `env` plus ours, `input` on its stdin (small: it
/// is written before anything is read), until it exits; killed after `limit`.
inline tool_outcome run_tool(std::string const& path, std::vector<std::string> const& args,
                             std::map<std::string, std::string> const& env,
                             std::string const& input = {},
                             std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  tool_outcome o;
  int in[2];
  int out[2];
  int err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return o;
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return o;
  // Everything the child needs is built before fork().
  std::vector<char*> argv{const_cast<char*>(path.c_str())};
  for (auto const& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t const pid = ::fork();
  if (pid < 0) return o;
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    for (auto const& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  [[maybe_unused]] auto const written = ::write(in[1], input.data(), input.size());
  ::close(in[1]);
  auto const until = std::chrono::steady_clock::now() + limit;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open = 2;
  while (open > 0 && std::chrono::steady_clock::now() < until) {
    if (::poll(fds, 2, 50) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t const n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      } else {
        (i == 0 ? o.out : o.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  for (auto const& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  if (open > 0) ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  if (open == 0 && WIFEXITED(status)) o.status = WEXITSTATUS(status);
  return o;
}

/// Connects to the unix socket `path`; -1 on failure.
inline int connect_unix(std::filesystem::path const& path) {
  int const fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace cluster::testing
