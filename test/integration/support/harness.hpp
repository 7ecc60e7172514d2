// SPDX-License-Identifier: BSL-1.0
// Integration test helpers: start a master, read its stderr, talk to it, and always clean up.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace cluster::testing {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

/// The whole of a small file such as /proc/PID/stat; empty if it cannot be read. A process may
/// end while its /proc files are read (the read then fails with ESRCH): that is not an error
/// here, whereas std::ifstream would throw.
inline std::string read_small_file(std::string const& path) {
  std::string text;
  int const fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return text;
}

/// The state letter of `pid` from /proc/PID/stat (`R`, `S`, `T`, `Z`, ...), or 0 when it is gone.
inline char process_state(int pid) {
  std::string const text = read_small_file("/proc/" + std::to_string(pid) + "/stat");
  auto const close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return 0;
  return text[close + 2];
}

/// True while `pid` exists and is not a zombie.
inline bool alive(int pid) {
  char const state = process_state(pid);
  return state != 0 && state != 'Z' && state != 'X';
}

/// The processes of the tree under `root` (`root` included; every process of the system, kernel
/// threads too, when `root` is 0) that sleep uninterruptibly in the kernel (state D), as
/// `pid (name) in wait-channel`.
inline std::vector<std::string> stuck_in_kernel(int root) {
  std::map<int, std::vector<int>> children;
  std::map<int, std::string> stat;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent const* e = ::readdir(d)) {
      char* end = nullptr;
      long const pid = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0') continue;
      std::string text = read_small_file(std::string("/proc/") + e->d_name + "/stat");
      auto const close = text.rfind(')');
      if (close == std::string::npos || close + 4 >= text.size()) continue;
      children[std::atoi(text.c_str() + close + 4)].push_back(static_cast<int>(pid));
      stat[static_cast<int>(pid)] = std::move(text);
    }
    ::closedir(d);
  }
  std::vector<std::string> out;
  std::vector<int> todo{root};
  if (root == 0) {
    todo.clear();
    for (auto const& [pid, text] : stat) todo.push_back(pid);
  }
  while (!todo.empty()) {
    int const pid = todo.back();
    todo.pop_back();
    if (root != 0)
      for (int c : children[pid]) todo.push_back(c);
    std::string const& text = stat[pid];
    auto const close = text.rfind(')');
    if (close == std::string::npos || text[close + 2] != 'D') continue;
    auto const open = text.find('(');
    out.push_back(std::to_string(pid) + " " + text.substr(open, close + 1 - open) + " in " +
                  read_small_file("/proc/" + std::to_string(pid) + "/wchan"));
  }
  return out;
}

/// True while a process of the machine sleeps uninterruptibly in the kernel (state D), or did so
/// less than 30 s ago (`last_seen`, updated here: a process waiting for a kernel lock spins,
/// running, while the lock's holder is on a CPU, and on these virtual machines the host can hold
/// that CPU for many seconds; the waiters then show running for seconds at a time: five in a row
/// were seen), for at most three minutes after `since`: a wait
/// that ran out then is the kernel's delay, not the program's. On a loaded virtual machine, fork()
/// and exit() have been seen blocked for up to two minutes on a lock of a shared library's memory
/// map, and the process that waits is not always one the test started: another test's worker
/// exiting held up this test's master's fork(). Says so on stderr, for the test's log.
inline bool held_up_by_kernel(clock::time_point since, clock::time_point& last_seen) {
  auto const now = clock::now();
  if (now - since > 180s) return false;
  auto const stuck = stuck_in_kernel(0);
  if (stuck.empty()) return last_seen != clock::time_point{} && now - last_seen < 30s;
  last_seen = now;
  auto const ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - since);
  std::fprintf(stderr, "harness: still waiting after %lld ms: %s sleeps in the kernel\n",
               static_cast<long long>(ms.count()), stuck.front().c_str());
  return true;
}

/// Polls `done` until it holds or `limit` passes; never a fixed sleep standing in for a condition.
/// The wait goes on past `limit` while the kernel holds a process up (see `held_up_by_kernel`).
inline bool wait_until(std::function<bool()> const& done, std::chrono::milliseconds limit = 10s) {
  auto const since = clock::now();
  auto until = since + limit;
  clock::time_point stuck_at{};
  for (;;) {
    if (done()) return true;
    if (clock::now() >= until) {
      if (!held_up_by_kernel(since, stuck_at)) return done();
      until = clock::now() + 1s;
    }
    std::this_thread::sleep_for(5ms);
  }
}

/// A program to run and its arguments, `argv[0]` being its path.
struct program {
  std::vector<std::string> argv;
  int listen_fd = -1;  ///< passed as descriptor 3 with LISTEN_FDS=1, as systemd would
};

/// A master process started from the test server program, in its own process group, with its
/// stderr captured. The destructor SIGKILLs the group and reaps the master, so a failed test
/// leaves nothing behind.
class master_process {
 public:
  /// Starts the test server program in `mode` (see support/server.cpp).
  explicit master_process(std::string const& mode, std::map<std::string, std::string> env = {})
      : master_process(program{{CLUSTER_TEST_SERVER, mode}}, std::move(env)) {}

  /// Starts `p.argv[0]` with the arguments `p.argv`.
  master_process(program const& p, std::map<std::string, std::string> env) {
    // A master started by `restart()` outlives the master that started it: once that one is
    // gone, the successor and its workers become children of the test (rather than of a PID 1
    // that may never reap them), and the destructor can reap them.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    env.try_emplace("CLUSTER_TEST_EVENTS", "1");
    env.try_emplace("PORT", "0");
    env.try_emplace("WEB_CONCURRENCY", "2");
    pid_ = ::fork();
    if (pid_ == 0) {
      // A group of its own: the test can signal the master and every worker at once, and
      // Ctrl-C on the test runner does not reach them twice.
      ::setpgid(0, 0);
      // Should the test itself crash, its master dies with it (and the workers follow the master).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(fds[1], 2);
      // Only stdin, stdout and the captured stderr: descriptors the test runner inherited
      // (a terminal's, a CI agent's) would blur what the master itself leaks.
      if (p.listen_fd >= 0) {
        // Socket activation: descriptor 3, without close-on-exec, and LISTEN_PID = the pid the
        // exec keeps.
        if (p.listen_fd == 3) {
          ::fcntl(3, F_SETFD, 0);
        } else {
          ::dup2(p.listen_fd, 3);
        }
        ::setenv("LISTEN_FDS", "1", 1);
        ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
        ::close_range(4, ~0U, 0);
      } else {
        ::close_range(3, ~0U, 0);
      }
      for (auto const& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (auto const& a : p.argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);  // also from the parent: whichever runs first, the group exists
    ::close(fds[1]);
    err_ = fds[0];
  }
  master_process(master_process const&) = delete;
  master_process& operator=(master_process const&) = delete;
  ~master_process() {
    // A REQUIRE that failed is unwinding: what the masters said is the best clue to why.
    if (std::uncaught_exceptions() > 0) {
      auto const& all = lines();
      for (std::size_t i = 0; i < all.size(); ++i) {
        auto const ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(arrived_[i] - started_).count();
        std::fprintf(stderr, "  | %6lld ms  %s\n", static_cast<long long>(ms), all[i].c_str());
      }
      // A process stuck in the kernel holds others up (a lock of the memory map): name them all,
      // with their kernel stacks, whoever started them.
      for (std::string const& p : stuck_in_kernel(0)) {
        std::string const pid = p.substr(0, p.find(' '));
        std::fprintf(stderr, "  kernel: %s\n%s", p.c_str(),
                     read_small_file("/proc/" + pid + "/stack").c_str());
      }
    }
    // The whole group, even once the first master is reaped: successors share its group.
    ::kill(-pid_, SIGKILL);
    std::vector<int> others = seen_pids();
    for (int pid : successor_pids()) others.push_back(pid);
    for (int pid : others) {
      // Workers outlive a SIGKILLed master only by a moment; make sure of it.
      if (alive(pid)) ::kill(pid, SIGKILL);
    }
    wait(5s);
    // Those re-parented to the test (see the constructor) are reaped here; the others are not
    // ours to wait for.
    auto const until = clock::now() + 5s;
    for (int pid : others) {
      while (::waitpid(pid, nullptr, WNOHANG) == 0 && clock::now() < until)
        std::this_thread::sleep_for(1ms);
    }
    ::close(err_);
  }

  [[nodiscard]] int pid() const { return pid_; }

  /// Sends `sig` to the master.
  void signal(int sig) const { ::kill(pid_, sig); }

  /// Waits for a stderr line matching `pattern`, starting after line `from`; its index, or -1.
  /// The wait goes on past `limit` while the kernel holds a process up (see `held_up_by_kernel`).
  int wait_line(std::string const& pattern, std::chrono::milliseconds limit = 10s,
                std::size_t from = 0) {
    std::regex const re(pattern);
    auto const since = clock::now();
    auto until = since + limit;
    clock::time_point stuck_at{};
    for (std::size_t i = from;; ++i) {
      while (i >= lines_.size()) {
        auto const left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
        if (left.count() > 0) {
          if (read_some(left)) continue;
          if (clock::now() < until) return -1;  // the end of the output
        }
        if (!held_up_by_kernel(since, stuck_at)) return -1;
        until = clock::now() + 1s;
      }
      if (std::regex_search(lines_[i], re)) return static_cast<int>(i);
    }
  }

  /// The first capture group of the first line matching `pattern` (waiting for it).
  std::string capture(std::string const& pattern, std::chrono::milliseconds limit = 10s,
                      std::size_t from = 0) {
    int const at = wait_line(pattern, limit, from);
    if (at < 0) return {};
    std::smatch m;
    std::regex const re(pattern);
    std::regex_search(lines_[static_cast<std::size_t>(at)], m, re);
    return m.size() > 1 ? m[1].str() : m[0].str();
  }

  /// The TCP port from `cluster: listening on HOST:PORT`, or 0.
  int port() {
    std::string const p = capture(R"(^cluster: listening on .*:(\d+)$)");
    return p.empty() ? 0 : std::stoi(p);
  }

  /// The port from `cluster: metrics on 127.0.0.1:PORT` (the stats plugin's endpoint), in the
  /// lines from `from` on; 0 if none comes.
  int metrics_port(std::size_t from = 0) {
    std::string const p =
        capture(R"(^cluster: metrics on 127\.0\.0\.1:(\d+)$)", std::chrono::seconds(10), from);
    return p.empty() ? 0 : std::stoi(p);
  }

  /// True once workers 0 to `n` - 1 have connected (the `worker_connected id=N` lines of the test
  /// programs' event trace).
  bool workers_connected(unsigned n) {
    for (unsigned id = 0; id < n; ++id)
      if (wait_line("worker_connected id=" + std::to_string(id)) < 0) return false;
    return true;
  }

  /// Counts the lines so far that match `pattern`.
  std::size_t count(std::string const& pattern) {
    drain();
    std::regex const re(pattern);
    std::size_t n = 0;
    for (auto const& l : lines_) n += std::regex_search(l, re) ? 1 : 0;
    return n;
  }

  /// Reaps the master, waiting up to `limit`; its exit status (`code`, or 128 + signal).
  std::optional<int> wait(std::chrono::milliseconds limit = 10s) {
    if (reaped_) return status_;
    auto const until = clock::now() + limit;
    do {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        reaped_ = true;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        drain();
        return status_;
      }
      drain();
      std::this_thread::sleep_for(5ms);
    } while (clock::now() < until);
    return std::nullopt;
  }

  /// Every stderr line so far.
  std::vector<std::string> const& lines() {
    drain();
    return lines_;
  }

  /// Pids of every worker the master reported spawning.
  std::vector<int> seen_pids() {
    drain();
    std::vector<int> out;
    std::regex const re(R"(worker_spawned id=\d+ pid=(\d+))");
    for (auto const& l : lines_) {
      std::smatch m;
      if (std::regex_search(l, m, re)) out.push_back(std::stoi(m[1].str()));
    }
    return out;
  }

  /// Pids of every successor master a restart started, in order.
  std::vector<int> successor_pids() {
    drain();
    std::vector<int> out;
    std::regex const re(R"(cluster: restarting: starting a new master \(pid (\d+)\))");
    for (auto const& l : lines_) {
      std::smatch m;
      if (std::regex_search(l, m, re)) out.push_back(std::stoi(m[1].str()));
    }
    return out;
  }

  /// The pid of the latest worker spawned with `id`, from the lines read so far (0 if none): it
  /// does not wait. A worker can answer a client before the master has printed the line naming
  /// it: wait for `worker_connected id=N` first.
  int worker_pid(unsigned id) {
    auto const& latest = worker_pids();
    auto const it = latest.find(id);
    return it == latest.end() ? 0 : it->second;
  }

  /// The pid of the latest worker spawned with each id, from the lines read so far. Lines are
  /// parsed once, as they come: a test that asks about every id in a loop stays cheap.
  std::map<unsigned, int> const& worker_pids() {
    drain();
    static constexpr std::string_view key = "worker_spawned id=";
    for (; parsed_ < lines_.size(); ++parsed_) {
      std::string const& l = lines_[parsed_];
      std::size_t const at = l.find(key);
      if (at == std::string::npos) continue;
      char const* p = l.c_str() + at + key.size();
      char* end = nullptr;
      unsigned long const id = std::strtoul(p, &end, 10);
      if (end == p || std::string_view(end).substr(0, 5) != " pid=") continue;
      latest_pids_[static_cast<unsigned>(id)] = std::atoi(end + 5);
    }
    return latest_pids_;
  }

 private:
  bool read_some(std::chrono::milliseconds limit) {
    pollfd p{err_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
    char buf[4096];
    ssize_t const n = ::read(err_, buf, sizeof buf);
    if (n <= 0) return false;
    partial_.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
      lines_.push_back(partial_.substr(0, nl));
      arrived_.push_back(clock::now());
      partial_.erase(0, nl + 1);
    }
    return true;
  }
  void drain() {
    while (read_some(0ms)) {
    }
  }

  int pid_ = -1;
  int err_ = -1;
  bool reaped_ = false;
  int status_ = -1;
  std::string partial_;
  std::vector<std::string> lines_;
  std::vector<clock::time_point> arrived_;  ///< when each line was read, for the failure dump
  std::size_t parsed_ = 0;                  ///< the lines `worker_pids` has read
  std::map<unsigned, int> latest_pids_;     ///< see `worker_pids`
  clock::time_point started_ = clock::now();
};

/// A connected client socket with a deadline on every read.
class client {
 public:
  /// Connects to 127.0.0.1:`port`.
  explicit client(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
  }
  /// Connects to the unix socket at `path`.
  explicit client(std::string const& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
  }
  client(client const&) = delete;
  client& operator=(client const&) = delete;
  ~client() { close(); }

  /// Closes the connection (the server reads end-of-file).
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  void send(std::string const& data) {
    if (::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(data.size()))
      throw std::runtime_error("send failed");
  }

  /// Reads until `done(received)` holds, the peer closes, or `limit` passes.
  std::string receive(std::function<bool(std::string const&)> const& done,
                      std::chrono::milliseconds limit = 10s) {
    std::string got;
    auto const until = clock::now() + limit;
    while (!done(got)) {
      auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      ssize_t const n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
  }

  /// Reads until the peer closes (or `limit` passes).
  std::string receive_all(std::chrono::milliseconds limit = 10s) {
    return receive([](std::string const&) { return false; }, limit);
  }

 private:
  int fd_;
};

/// One HTTP/1.1 GET with `Connection: close`; the whole response, or "" on failure.
template <class Where>
std::string http_get(Where const& where, std::string const& path,
                     std::chrono::milliseconds limit = 10s) {
  try {
    client c(where);
    c.send("GET " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    return c.receive_all(limit);
  } catch (std::exception const&) {
    return {};
  }
}

/// A TCP socket listening on 127.0.0.1 at a port the kernel chose: a port another program
/// holds, or a socket handed over as a systemd .socket unit would. Closed when it goes.
struct listening_socket {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port = 0;
  listening_socket() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 128) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  listening_socket(listening_socket const&) = delete;
  listening_socket& operator=(listening_socket const&) = delete;
  ~listening_socket() { ::close(fd); }
};

/// The `pid=N` the test HTTP server puts in its body, or 0.
inline int served_by(std::string const& response) {
  std::smatch m;
  static std::regex const re(R"(pid=(\d+) worker=(\d+))");
  return std::regex_search(response, m, re) ? std::stoi(m[1].str()) : 0;
}

}  // namespace cluster::testing
