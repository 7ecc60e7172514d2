// SPDX-License-Identifier: BSL-1.0
// Start-up: errors a user can cause are one line before anything forks; a broken app stops.
#include "../support/temp_dir.hpp"
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace cluster::testing;

TEST_CASE("a server whose constructor throws stops the master with a clear message") {
  master_process m("broken", {{"WEB_CONCURRENCY", "2"}});
  auto const status = m.wait(20s);
  REQUIRE(status.has_value());
  CHECK(*status != 0);
  CHECK(
      m.wait_line(R"(cluster: workers keep dying .*application looks broken.*database unreachable)",
                  1s) >= 0);
  // It gave up instead of forking forever.
  CHECK(m.count("worker_spawned") <= 25);
}

TEST_CASE("serving workers killed again and again right after start do not stop the master") {
  // As the OOM killer or an operator would: 25 SIGKILLs within the first seconds, each of a
  // worker that serves. The original gave up after 20 deaths in 20 s, whatever they were. The
  // crash-loop waits are shortened (at most 400 ms) to keep the test short.
  master_process m("http", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_BACKOFF", "50,400,30000,20"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  for (int i = 0; i < 25; ++i) {
    unsigned const id = static_cast<unsigned>(i % 2);
    int const victim = m.worker_pid(id);
    REQUIRE(victim > 0);
    ::kill(victim, SIGKILL);
    int const at = m.wait_line("worker_killed id=" + std::to_string(id) +
                               " pid=" + std::to_string(victim) + " ");
    REQUIRE(at >= 0);
    REQUIRE(m.wait_line("worker_connected id=" + std::to_string(id) + " ", 10s,
                        static_cast<std::size_t>(at) + 1) >= 0);
  }
  CHECK(m.count("keep dying") == 0);
  CHECK_FALSE(m.wait(std::chrono::milliseconds(1)).has_value());
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}

TEST_CASE("giving up stops gracefully: a request in flight on a serving worker is answered") {
  temp_dir dir("cluster-give-up");
  auto const broken = dir.path() / "broken";
  // Shortened crash-loop waits (at most 100 ms): the 20 deaths take about 2 s, well within the
  // slow request.
  master_process m("http", {{"WEB_CONCURRENCY", "2"},
                            {"CLUSTER_TEST_BREAK_FILE", broken.string()},
                            {"CLUSTER_TEST_BACKOFF", "20,100,30000,20"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  client slow(port);
  slow.send("GET /slow?ms=6000 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
  std::string const busy = m.capture(R"(slow request started pid=(\d+))");
  REQUIRE(!busy.empty());
  // A bad deploy from now on: every new worker fails before it serves.
  std::ofstream(broken) << "throw\n";
  unsigned const other = m.worker_pid(0) == std::stoi(busy) ? 1 : 0;
  ::kill(m.worker_pid(other), SIGKILL);
  REQUIRE(
      m.wait_line(
          R"(cluster: workers keep dying before they serve .*stopping gracefully.*broken deploy)",
          20s) >= 0);
  // The serving worker finishes its request before the master exits, with status 1.
  CHECK(slow.receive_all(15s).find("200 OK") != std::string::npos);
  CHECK(m.wait(20s) == std::optional<int>{1});
}

TEST_CASE("giving up on workers killed by a signal before they serve names the signal") {
  temp_dir dir("cluster-give-up-signal");
  auto const broken = dir.path() / "broken";
  std::ofstream(broken) << "kill\n";
  master_process m("http", {{"WEB_CONCURRENCY", "2"},
                            {"CLUSTER_TEST_BREAK_FILE", broken.string()},
                            {"CLUSTER_TEST_BACKOFF", "20,100,30000,5"}});
  REQUIRE(m.wait(20s) == std::optional<int>{1});
  CHECK(
      m.count(
          R"(^cluster: workers keep dying before they serve \(5 in a row\), so the )"
          R"(application looks broken; stopping gracefully\. the last one ended with SIGKILL$)") ==
      1);
}

TEST_CASE("a server that reports a fatal error stops the master at once, with status 78") {
  temp_dir dir("cluster-fatal");
  auto const broken = dir.path() / "broken";
  std::ofstream(broken) << "fatal\n";
  master_process m("http",
                   {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_BREAK_FILE", broken.string()}});
  REQUIRE(m.wait(20s) == std::optional<int>{78});
  CHECK(
      m.count(
          R"(^cluster: worker \d \(pid \d+\) exited with status 78: its error is one )"
          R"(restarting cannot fix \(its error was: no configuration .*\); stopping gracefully$)") ==
      1);
  // Not retried: the two workers of the first start and no other.
  CHECK(m.count("worker_spawned") == 2);
  CHECK(m.count("keep dying") == 0);
}

TEST_CASE("a fatal error in a serving worker stops the master gracefully") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(2));
  client slow(port);
  slow.send("GET /slow?ms=2000 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
  REQUIRE(!m.capture(R"(slow request started pid=(\d+))").empty());
  // The other worker takes this one (the busy one does not accept meanwhile).
  (void)http_get(port, "/fatal");
  CHECK(m.wait_line(R"(worker_exception id=\d pid=\d+ what=the licence expired)") >= 0);
  CHECK(m.wait_line(R"(worker_killed id=\d pid=\d+ code=78 signal=0 reason=gave up)") >= 0);
  CHECK(m.wait_line("closing graceful=1") >= 0);
  // The request in flight on the other worker is answered before the master exits.
  CHECK(slow.receive_all(15s).find("200 OK") != std::string::npos);
  CHECK(m.wait(20s) == std::optional<int>{78});
}

TEST_CASE("the master says it is ready, with the port bound, once every worker accepts") {
  master_process m("http", {{"WEB_CONCURRENCY", "3"}});
  int const ready = m.wait_line(R"(^cluster: ready)", 20s);
  REQUIRE(ready >= 0);
  auto const lines = m.lines();
  std::string const& line = lines[static_cast<std::size_t>(ready)];
  // Port 0 in the configuration: the line names the port the system chose.
  CHECK(line == "cluster: ready on 127.0.0.1:" + std::to_string(m.port()) + " (3 workers)");
  // Every worker had reported that it accepts before the line, and the line comes once.
  std::size_t connected = 0;
  for (std::size_t i = 0; i < static_cast<std::size_t>(ready); ++i)
    connected += lines[i].find("worker_connected id=") != std::string::npos ? 1 : 0;
  CHECK(connected == 3);
  CHECK(served_by(http_get(m.port(), "/")) > 0);
  // Scaling up later does not say it again.
  m.signal(SIGTTIN);
  REQUIRE(m.wait_line("worker_connected id=3") >= 0);
  CHECK(m.count("^cluster: ready") == 1);

  // Workers that listen on nothing (an abstract cluster) are ready once they all run.
  master_process jobs("job", {{"WEB_CONCURRENCY", "1"}});
  CHECK(jobs.wait_line(R"(^cluster: ready \(1 worker\)$)", 20s) >= 0);
}

TEST_CASE("a port in use is one error line and no worker") {
  master_process first("http", {{"WEB_CONCURRENCY", "1"}});
  int const port = first.port();
  master_process second("http", {{"PORT", std::to_string(port)}});
  REQUIRE(second.wait(10s) == 1);
  auto const& lines = second.lines();
  REQUIRE(lines.size() == 2);  // the trace's "start", then the error
  CHECK(lines[1] == "cluster: cannot listen on 127.0.0.1:" + std::to_string(port) +
                        ": the port is in use; stop the other server or choose another port");
  CHECK(second.count("worker_spawned") == 0);
}

TEST_CASE("a request deadline not below timeout is one error line and no worker") {
  master_process m("builder",
                   {{"CLUSTER_TEST_DEADLINE_MS", "5000"}, {"CLUSTER_TEST_TIMEOUT_MS", "3000"}});
  REQUIRE(m.wait(10s) == 1);
  auto const& lines = m.lines();
  REQUIRE(lines.size() == 1);  // refused before anything is bound or forked
  CHECK(lines[0] ==
        "cluster: the request deadline (5000 ms) is not below timeout (3000 ms): a graceful stop "
        "would kill workers in requests still within their deadline; lower the request deadline "
        "or raise timeout");
  // Its good twin serves.
  master_process good("builder",
                      {{"CLUSTER_TEST_DEADLINE_MS", "2000"}, {"CLUSTER_TEST_TIMEOUT_MS", "3000"}});
  int const port = good.port();
  REQUIRE(port > 0);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}

TEST_CASE("a missing working directory is one error line and no worker") {
  master_process m("http", {{"CLUSTER_TEST_CHDIR", "/no/such/working/directory"}});
  REQUIRE(m.wait(10s) == 1);
  CHECK(m.wait_line("^cluster: cannot change to working directory /no/such/working/directory: No "
                    "such file or directory; set<\"working directory\"> to an existing one$",
                    1s) >= 0);
  CHECK(m.count("worker_spawned") == 0);
  CHECK(m.count("listening on") == 0);
}

TEST_CASE("an unknown host is one error line") {
  master_process m("http", {{"HOST", "no-such-host.invalid"}});
  REQUIRE(m.wait(20s) == 1);
  CHECK(m.wait_line(R"(^cluster: cannot listen on no-such-host\.invalid:0: unknown host)", 1s) >=
        0);
  CHECK(m.count("worker_spawned") == 0);
}

TEST_CASE("a unix socket listener serves, replaces a stale socket file and removes it at exit") {
  auto const dir =
      std::filesystem::temp_directory_path() / ("cluster-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string const path = (dir / "app.sock").string();
  {
    // A stale socket file, as a crashed server leaves it: bound, then its process is gone.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    ::close(fd);
  }
  {
    master_process m("http", {{"CLUSTER_TEST_UNIX", path}, {"WEB_CONCURRENCY", "2"}});
    REQUIRE(m.wait_line("cluster: listening on unix:" + path) >= 0);
    std::string const r = http_get(path, "/");
    CHECK(r.find("200 OK") != std::string::npos);
    CHECK(served_by(r) != 0);
    m.signal(SIGTERM);
    REQUIRE(m.wait(5s) == 0);
  }
  CHECK_FALSE(std::filesystem::exists(path));
  SECTION("a regular file at the path is never removed") {
    { std::ofstream(path) << "precious"; }
    master_process m("http", {{"CLUSTER_TEST_UNIX", path}});
    REQUIRE(m.wait(10s) == 1);
    CHECK(m.wait_line("cluster: cannot listen on unix socket .*exists and is not a socket", 1s) >=
          0);
    CHECK(std::filesystem::exists(path));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("an unwritable unix socket path is one error line") {
  master_process m("http", {{"CLUSTER_TEST_UNIX", "/nonexistent-dir/app.sock"}});
  REQUIRE(m.wait(10s) == 1);
  CHECK(m.wait_line("^cluster: cannot listen on unix socket /nonexistent-dir/app.sock: ", 1s) >= 0);
}

TEST_CASE("sockets passed by systemd (LISTEN_FDS) are adopted instead of binding") {
  int const fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 16) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int const port = ntohs(a.sin_port);
  {
    // The configuration asks for a port in use by the socket itself: adopting must not bind.
    master_process m(program{{CLUSTER_TEST_SERVER, "http"}, fd},
                     {{"PORT", std::to_string(port)}, {"WEB_CONCURRENCY", "2"}});
    REQUIRE(m.port() == port);
    CHECK(served_by(http_get(port, "/")) != 0);
    m.signal(SIGTERM);
    CHECK(m.wait(5s) == 0);
  }
  ::close(fd);
}
