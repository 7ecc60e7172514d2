// SPDX-License-Identifier: BSL-1.0
// Under systemd: socket activation, and the notifications a Type=notify service sends, read from
// a NOTIFY_SOCKET the test binds itself, the way systemd would.
#include "../support/temp_dir.hpp"
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>

#include <csignal>
#include <cstdlib>
#include <string>

using namespace cluster::testing;

namespace {

/// One notification and the pid that sent it (from SCM_CREDENTIALS, as systemd checks it).
struct notification {
  std::string text;
  int pid = 0;
};

/// A NOTIFY_SOCKET bound at a temporary path.
class notify_socket {
 public:
  notify_socket() : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path_.data(), path_.size());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("bind notify socket");
    int const one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
  }
  notify_socket(notify_socket const&) = delete;
  notify_socket& operator=(notify_socket const&) = delete;
  ~notify_socket() { ::close(fd_); }

  [[nodiscard]] std::string const& path() const { return path_; }

  /// The next notification, or nothing within `limit`.
  std::optional<notification> next(std::chrono::milliseconds limit = 10s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return std::nullopt;
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t const n = ::recvmsg(fd_, &msg, 0);
    if (n < 0) return std::nullopt;
    notification out{std::string(buf, static_cast<std::size_t>(n)), 0};
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        out.pid = cred.pid;
      }
    }
    return out;
  }

  /// The next notification matching `pattern`, skipping the others (watchdog keep-alives).
  std::optional<notification> wait_for(std::string const& pattern,
                                       std::chrono::milliseconds limit = 20s) {
    std::regex const re(pattern);
    auto const until = clock::now() + limit;
    while (clock::now() < until) {
      auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
      auto n = next(left);
      if (n && std::regex_search(n->text, re)) return n;
    }
    return std::nullopt;
  }

  /// True once `quiet` has passed without a WATCHDOG=1, within `limit`.
  bool watchdog_silent_for(std::chrono::milliseconds quiet, std::chrono::milliseconds limit) {
    auto const until = clock::now() + limit;
    auto last = clock::now();
    while (clock::now() < until) {
      auto n = next(50ms);
      if (n && n->text.find("WATCHDOG=1") != std::string::npos) last = clock::now();
      if (clock::now() - last >= quiet) return true;
    }
    return false;
  }

 private:
  int fd_;
  temp_dir dir_{"cluster-notify"};
  std::string path_ = (dir_.path() / "notify").string();
};

}  // namespace

TEST_CASE("socket activation and notifications through a master's life") {
  notify_socket notify;
  listening_socket sock;
  // 400 ms: keep-alives every 200 ms, so that silence is seen quickly. The liveness check off:
  // the watchdog is then the only defence against a stuck worker.
  master_process m(program{{CLUSTER_TEST_SERVER, "http"}, sock.fd},
                   {{"NOTIFY_SOCKET", notify.path()},
                    {"WATCHDOG_USEC", "400000"},
                    {"WEB_CONCURRENCY", "2"},
                    {"CLUSTER_TEST_LIVENESS_MS", "0"},
                    {"CLUSTER_TEST_RESTART_THRESHOLD_MS", "0"}});
  // The master adopts the socket it was given instead of binding one.
  CHECK(m.port() == sock.port);
  auto ready = notify.wait_for("READY=1");
  REQUIRE(ready);
  CHECK(ready->pid == m.pid());
  CHECK(ready->text.find("STATUS=serving on 127.0.0.1:" + std::to_string(sock.port) +
                         " with 2 workers") != std::string::npos);
  // READY means serving: both workers accept already.
  CHECK(m.count("worker_connected") == 2);
  CHECK(served_by(http_get(sock.port, "/")) != 0);

  SECTION("without the liveness check, the watchdog is fed only while every worker's loop runs") {
    for (int i = 0; i < 3; ++i) REQUIRE(notify.wait_for("^WATCHDOG=1$", 2s));
    int const worker = m.worker_pid(0);
    ::kill(worker, SIGSTOP);  // alive, but no longer serving
    CHECK(notify.watchdog_silent_for(1500ms, 10s));
    ::kill(worker, SIGCONT);
    CHECK(notify.wait_for("^WATCHDOG=1$", 5s));
  }

  SECTION("a rolling restart reports reloading, then ready") {
    m.signal(SIGHUP);
    auto reloading = notify.wait_for("RELOADING=1");
    REQUIRE(reloading);
    CHECK(std::regex_search(reloading->text, std::regex("MONOTONIC_USEC=\\d+")));
    auto again = notify.wait_for("READY=1");
    REQUIRE(again);
    CHECK(m.count("cluster: rolling restart: every worker replaced") == 1);
  }

  SECTION("a master restart names the new main pid, which then notifies") {
    m.signal(SIGUSR2);
    REQUIRE(notify.wait_for("RELOADING=1"));
    auto handover = notify.wait_for("MAINPID=");
    REQUIRE(handover);
    std::smatch found;
    REQUIRE(std::regex_search(handover->text, found, std::regex(R"(MAINPID=(\d+))")));
    int const successor = std::stoi(found[1].str());
    CHECK(successor == m.successor_pids().back());
    CHECK(handover->text.find("READY=1") != std::string::npos);
    CHECK(handover->pid == m.pid());  // sent by the main process systemd knows
    CHECK(m.wait(20s) == 0);
    // The old master, gone, sent no STOPPING=1; the successor feeds the watchdog now.
    auto fed = notify.wait_for("^WATCHDOG=1$", 5s);
    REQUIRE(fed);
    CHECK(fed->pid == successor);
    ::kill(successor, SIGQUIT);
    auto stopping = notify.wait_for("STOPPING=1", 10s);
    REQUIRE(stopping);
    CHECK(stopping->pid == successor);
    CHECK(wait_until([&] { return !alive(successor); }, 20s));
    ::waitpid(successor, nullptr, WNOHANG);
  }

  SECTION("a shutdown reports stopping") {
    m.signal(SIGQUIT);
    auto stopping = notify.wait_for("STOPPING=1");
    REQUIRE(stopping);
    CHECK(stopping->pid == m.pid());
    CHECK(m.wait(10s) == 0);
  }
}

TEST_CASE("workers inherit neither the notification socket nor the activation variables") {
  notify_socket notify;
  listening_socket sock;
  master_process m(
      program{{CLUSTER_TEST_SERVER, "http"}, sock.fd},
      {{"NOTIFY_SOCKET", notify.path()}, {"WATCHDOG_USEC", "5000000"}, {"WEB_CONCURRENCY", "1"}});
  REQUIRE(notify.wait_for("READY=1"));
  for (char const* name : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "LISTEN_FDS", "LISTEN_PID"}) {
    std::string const r = http_get(sock.port, std::string("/env/") + name);
    CHECK(r.find(std::string(name) + " unset") != std::string::npos);
  }
}

namespace {
/// Runs the test server with `env` through the shell; its stdout and stderr, and exit status.
std::pair<std::string, int> run_printing(std::string const& env, std::string const& mode) {
  std::string const command = env + " " + CLUSTER_TEST_SERVER + " " + mode + " 2>&1";
  FILE* out = ::popen(command.c_str(), "r");
  std::string text;
  char buf[4096];
  for (std::size_t n; out && (n = std::fread(buf, 1, sizeof buf, out)) > 0;) text.append(buf, n);
  int const status = out ? ::pclose(out) : -1;
  return {text, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}
}  // namespace

TEST_CASE("the program prints its own units, derived from its configuration") {
  auto [service, status] = run_printing(
      "CLUSTER_PRINT_UNIT=service CLUSTER_UNIT_NAME=shop CLUSTER_TEST_TIMEOUT_MS=30000", "http");
  CHECK(status == 0);
  CHECK(service.find("Type=notify\n") != std::string::npos);
  CHECK(service.find("KillSignal=SIGQUIT\n") != std::string::npos);
  CHECK(service.find("ExecReload=/bin/kill -USR2 $MAINPID\n") != std::string::npos);
  CHECK(service.find("Requires=shop.socket") != std::string::npos);
  std::smatch stop;
  REQUIRE(std::regex_search(service, stop, std::regex(R"(TimeoutStopSec=(\d+))")));
  CHECK(std::stoi(stop[1].str()) >= 30);
  // Printing starts nothing: no listener, no worker.
  CHECK(service.find("cluster: listening") == std::string::npos);

  auto [container, cstatus] = run_printing("CLUSTER_PRINT_UNIT=service", "container");
  CHECK(cstatus == 0);
  CHECK(container.find("KillSignal=SIGTERM\n") != std::string::npos);

  auto [socket, sstatus] = run_printing("CLUSTER_PRINT_UNIT=socket PORT=8080", "http");
  CHECK(sstatus == 0);
  CHECK(socket.find("ListenStream=127.0.0.1:8080\n") != std::string::npos);

  auto [bad, bstatus] = run_printing("CLUSTER_PRINT_UNIT=timer", "http");
  CHECK(bstatus == 1);
  CHECK(bad ==
        "cluster: CLUSTER_PRINT_UNIT=timer names no unit; use CLUSTER_PRINT_UNIT=service "
        "or =socket\n");
}

TEST_CASE("with the liveness check on, a stuck worker is the master's to replace, not systemd's") {
  notify_socket notify;
  master_process m("http", {{"NOTIFY_SOCKET", notify.path()},
                            {"WATCHDOG_USEC", "400000"},
                            {"WEB_CONCURRENCY", "2"},
                            {"CLUSTER_TEST_LIVENESS_MS", "3000"}});
  REQUIRE(notify.wait_for("READY=1"));
  int const worker = m.worker_pid(0);
  ::kill(worker, SIGSTOP);
  // Keep-alives go on while the worker is stuck (systemd would otherwise restart the whole
  // service, healthy workers included), until the master replaces it.
  for (int i = 0; i < 5; ++i) REQUIRE(notify.wait_for("^WATCHDOG=1$", 1s));
  CHECK(process_state(worker) == 'T');  // still stuck while they came
  int const killed =
      m.wait_line("worker_killed id=0 pid=" + std::to_string(worker) + " .*reason=hung", 15s);
  REQUIRE(killed >= 0);
  CHECK(m.wait_line("worker_connected id=0 ", 10s, static_cast<std::size_t>(killed)) >= 0);
  CHECK(notify.wait_for("^WATCHDOG=1$", 2s));
}

TEST_CASE("a worker id waiting out its crash-loop delay does not silence the watchdog") {
  notify_socket notify;
  // Worker 1 exits on every request; its second replacement in a row waits 2 to 2.5 s.
  master_process m("http", {{"NOTIFY_SOCKET", notify.path()},
                            {"WATCHDOG_USEC", "400000"},
                            {"WEB_CONCURRENCY", "2"},
                            {"CLUSTER_TEST_CRASH_WORKER", "1"},
                            {"CLUSTER_TEST_BACKOFF", "2500,2500,30000,20"}});
  int const port = m.port();
  REQUIRE(notify.wait_for("READY=1"));
  REQUIRE(m.workers_connected(2));
  int const first = m.worker_pid(0);
  REQUIRE(first > 0);
  // Both workers wait on the listening socket and the first to wake takes a connection: with
  // worker 0 stopped, every request goes to worker 1 (its first replacement comes at once).
  ::kill(first, SIGSTOP);
  int waiting = -1;
  for (int i = 0; i < 10 && waiting < 0; ++i) {
    (void)http_get(port, "/", 2s);
    waiting = m.wait_line("worker_backoff id=1 .* deaths=2 ", 500ms);
  }
  ::kill(first, SIGCONT);
  REQUIRE(waiting >= 0);
  // While id 1 waits, worker 0 serves and the keep-alives go on: systemd must not restart the
  // service (worker 0 with it) for the crash loop the master paces. Only keep-alives sent from
  // now on count.
  while (notify.next(0ms)) {
  }
  for (int i = 0; i < 4; ++i) REQUIRE(notify.wait_for("^WATCHDOG=1$", 1s));
  CHECK(m.count("worker_spawned id=1 ") == 2);  // still waiting while they came
  CHECK(served_by(http_get(port, "/", 2s)) == first);
  CHECK(m.wait_line("worker_spawned id=1 ", 5s, static_cast<std::size_t>(waiting)) >= 0);
}
