// SPDX-License-Identifier: BSL-1.0
// The master's signals: graceful stop with requests in flight, the timeout kill, hard stop.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <future>

using namespace cluster::testing;

TEST_CASE("SIGQUIT lets a slow request in flight complete, then everything exits") {
  master_process m("http", {{"WEB_CONCURRENCY", "1"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  int const worker = m.worker_pid(0);
  // An idle keep-alive connection must not hold the worker back.
  client idle(port);
  idle.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
  auto const first =
      idle.receive([](std::string const& s) { return s.find("worker=") != std::string::npos; });
  REQUIRE(first.find("200 OK") != std::string::npos);
  client slow(port);
  slow.send("GET /slow?ms=700 HTTP/1.1\r\nHost: test\r\n\r\n");
  REQUIRE(m.wait_line("slow request started") >= 0);
  m.signal(SIGQUIT);
  REQUIRE(m.wait_line("closing graceful=1") >= 0);
  std::string const r = slow.receive_all();
  CHECK(r.find("200 OK") != std::string::npos);
  CHECK(r.find("Connection: close") != std::string::npos);
  CHECK(idle.receive_all().empty());  // closed by the worker, not answered again
  REQUIRE(m.wait(10s) == 0);
  CHECK(m.count("worker_timeout") == 0);
  CHECK(m.count("worker_killed id=0 pid=" + std::to_string(worker) + " code=0 signal=0") == 1);
  CHECK(m.count("cluster-event: close") == 1);
  CHECK_FALSE(alive(worker));
}

TEST_CASE("SIGQUIT kills a worker that does not finish within timeout") {
  master_process m("stuck", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_TIMEOUT_MS", "300"}});
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  auto const start = clock::now();
  m.signal(SIGQUIT);
  REQUIRE(m.wait(10s) == 0);
  CHECK(clock::now() - start >= 300ms);
  CHECK(m.count("worker_timeout") == 2);
  CHECK(m.count("worker_killed .* signal=9") == 2);
}

TEST_CASE("an abstract worker that honours stopping() exits on SIGQUIT") {
  master_process m("job", {{"WEB_CONCURRENCY", "2"}});
  REQUIRE(m.wait_line("job 0 running") >= 0);
  REQUIRE(m.wait_line("job 1 running") >= 0);
  m.signal(SIGQUIT);
  REQUIRE(m.wait(10s) == 0);
  CHECK(m.count("job . stopped") == 2);
  CHECK(m.count("worker_timeout") == 0);
}

TEST_CASE("SIGUSR1 reopens logs in the master, then in every worker, and kills no one") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  int const w0 = m.worker_pid(0);
  int const w1 = m.worker_pid(1);
  int from = 0;
  for (int round = 1; round <= 2; ++round) {
    m.signal(SIGUSR1);
    int const a = m.wait_line("reopen in worker id=0 pid=" + std::to_string(w0), 10s, from);
    int const b = m.wait_line("reopen in worker id=1 pid=" + std::to_string(w1), 10s, from);
    REQUIRE(a >= 0);
    REQUIRE(b >= 0);
    from = std::max(a, b) + 1;
    CHECK(m.count("cluster-event: reopen$") == static_cast<std::size_t>(round));
  }
  CHECK(m.count("worker_killed") == 0);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
  m.signal(SIGQUIT);
  REQUIRE(m.wait(10s) == 0);
}

TEST_CASE("SIGUSR1 reaches the plugins of job workers that wait in sleep_for") {
  master_process m("job", {{"WEB_CONCURRENCY", "2"}});
  REQUIRE(m.wait_line("job 0 running") >= 0);
  REQUIRE(m.wait_line("job 1 running") >= 0);
  // A worker's own line may come before the master's about it, which names its pid.
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  int const w0 = m.worker_pid(0);
  int const w1 = m.worker_pid(1);
  m.signal(SIGUSR1);
  REQUIRE(m.wait_line("reopen in worker id=0 pid=" + std::to_string(w0)) >= 0);
  REQUIRE(m.wait_line("reopen in worker id=1 pid=" + std::to_string(w1)) >= 0);
  CHECK(m.count("worker_killed") == 0);
  m.signal(SIGQUIT);
  REQUIRE(m.wait(10s) == 0);
  CHECK(m.count("job . stopped") == 2);
}

TEST_CASE("SIGTERM stops every worker and the master at once") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  auto const workers = m.seen_pids();
  client slow(port);
  slow.send("GET /slow?ms=5000 HTTP/1.1\r\nHost: test\r\n\r\n");
  m.signal(SIGTERM);
  REQUIRE(m.wait(5s) == 0);
  CHECK(m.count("closing graceful=0") == 1);
  for (int pid : workers) CHECK_FALSE(alive(pid));
  CHECK(slow.receive_all(5s).empty());
}

TEST_CASE("SIGINT is a hard shutdown too") {
  master_process m("job", {{"WEB_CONCURRENCY", "1"}});
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  m.signal(SIGINT);
  REQUIRE(m.wait(5s) == 0);
  CHECK(m.count("closing graceful=0") == 1);
  CHECK_FALSE(alive(m.worker_pid(0)));
}

TEST_CASE("with container_signals, SIGTERM stops gracefully") {
  master_process m("container", {{"WEB_CONCURRENCY", "1"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  client slow(port);
  slow.send("GET /slow?ms=500 HTTP/1.1\r\nHost: test\r\n\r\n");
  REQUIRE(m.wait_line("slow request started") >= 0);
  m.signal(SIGTERM);
  REQUIRE(m.wait_line("closing graceful=1") >= 0);
  CHECK(slow.receive_all().find("200 OK") != std::string::npos);
  REQUIRE(m.wait(10s) == 0);
}

TEST_CASE("SIGQUIT waits for open TCP connections and reports them as waiting") {
  master_process m("echo", {{"WEB_CONCURRENCY", "1"}});
  client c(m.port());
  c.send("ping\n");
  REQUIRE(c.receive([](std::string const& s) { return s.size() >= 5; }) == "ping\n");
  // The worker may have answered before the master printed the line that names it.
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  int const worker = m.worker_pid(0);
  m.signal(SIGQUIT);
  REQUIRE(m.wait_line("worker_waiting id=0 pid=" + std::to_string(worker) + " connections=1") >= 0);
  // The connection is still served while the worker drains.
  c.send("pong\n");
  CHECK(c.receive([](std::string const& s) { return s.size() >= 5; }) == "pong\n");
  CHECK(alive(worker));
  c.close();
  REQUIRE(m.wait(10s) == 0);
  CHECK(m.count("worker_timeout") == 0);
}

TEST_CASE("a TCP serve coroutine sees stopping() and ends its connection") {
  master_process m("polite-echo", {{"WEB_CONCURRENCY", "1"}});
  client c(m.port());
  c.send("ping\n");
  REQUIRE(c.receive([](std::string const& s) { return s.size() >= 5; }) == "ping\n");
  // The worker may have answered before the master printed the line that names it.
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  int const worker = m.worker_pid(0);
  m.signal(SIGQUIT);
  // The worker has taken the stop request once it reports the connection it waits for.
  REQUIRE(m.wait_line("worker_waiting id=0 pid=" + std::to_string(worker) + " connections=1") >= 0);
  c.send("more\n");
  CHECK(c.receive_all() == "bye\n");
  REQUIRE(m.wait(10s) == 0);
  CHECK(m.count("worker_timeout") == 0);
  CHECK(m.count("worker_killed id=0 pid=" + std::to_string(worker) + " code=0 signal=0") == 1);
}
