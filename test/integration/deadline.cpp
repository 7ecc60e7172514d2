// SPDX-License-Identifier: BSL-1.0
// The per-request deadline for HTTP (docs/health.md): a request past it is never left open.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace cluster::testing;

TEST_CASE("a synchronous handler past its deadline: traced, killed, its connection closed") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_DEADLINE_MS", "1000"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(2));
  client c(port);
  c.send("GET /slow?ms=8000 HTTP/1.1\r\nHost: test\r\n\r\n");
  std::string const busy = m.capture(R"(slow request started pid=(\d+))");
  REQUIRE(!busy.empty());
  int const victim = std::stoi(busy);
  // Closed without an answer well before the handler would have returned.
  using clock = std::chrono::steady_clock;
  auto const asked = clock::now();
  CHECK(c.receive_all(6s).empty());
  CHECK(clock::now() - asked < 6s);
  int const killed =
      m.wait_line("worker_killed id=\\d pid=" + std::to_string(victim) + " .*reason=deadline$", 5s);
  REQUIRE(killed >= 0);
  CHECK(m.count(R"(^cluster: worker \d \(pid )" + std::to_string(victim) +
                R"(\) is hung \(its request past its deadline of 1000 ms\) in GET /slow\?ms=8000 )"
                R"(from 127\.0\.0\.1:\d+, for \d+ ms; asking it for its stack)") == 1);
  // Its stack shows what the handler was stuck in (the test server's own functions are
  // internal, so they appear as offsets; the sleep it called is named).
  CHECK(m.count(R"(worker_hung_trace #\d+ .*std::this_thread::sleep_for)") == 1);
  CHECK(m.count(R"(worker_hung id=\d pid=\d+ reason=deadline why=its request past its )"
                R"(deadline of 1000 ms request=GET /slow\?ms=8000 from )") == 1);
  // Replaced, and the cluster answers.
  CHECK(m.wait_line("worker_connected ", 10s, static_cast<std::size_t>(killed)) >= 0);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}

TEST_CASE("with the liveness check off, a request past its deadline is still traced") {
  master_process m("http", {{"WEB_CONCURRENCY", "1"},
                            {"CLUSTER_TEST_DEADLINE_MS", "1000"},
                            {"CLUSTER_TEST_LIVENESS_MS", "0"},
                            {"CLUSTER_TEST_BOOT_MS", "0"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(1));
  client c(port);
  c.send("GET /slow?ms=8000 HTTP/1.1\r\nHost: test\r\n\r\n");
  REQUIRE(m.wait_line("slow request started") >= 0);
  REQUIRE(m.wait_line("worker_killed id=0 .*reason=deadline$", 5s) >= 0);
  CHECK(m.count(R"(worker_hung_trace #\d+ .*std::this_thread::sleep_for)") == 1);
}

TEST_CASE("a route that declares no deadline runs as long as it needs") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_DEADLINE_MS", "1000"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(2));
  std::string const r = http_get(port, "/upload?ms=2500", 10s);
  CHECK(r.find("200 OK") != std::string::npos);
  CHECK(m.count("reason=deadline") == 0);
  CHECK(m.count("worker_killed") == 0);
}

TEST_CASE("requests within their deadline keep their keep-alive connection") {
  master_process m("http", {{"WEB_CONCURRENCY", "1"}, {"CLUSTER_TEST_DEADLINE_MS", "1000"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(1));
  client c(port);
  for (int i = 0; i < 3; ++i) {
    c.send("GET /slow?ms=100 HTTP/1.1\r\nHost: test\r\n\r\n");
    std::string const r =
        c.receive([](std::string const& got) { return got.find("worker=") != std::string::npos; });
    REQUIRE(r.find("200 OK") != std::string::npos);
    CHECK(r.find("Connection: close") == std::string::npos);
  }
  CHECK(m.count("worker_killed") == 0);
}

TEST_CASE("an asynchronous handler past its deadline: the worker closes it, and serves on") {
  master_process m("async", {{"WEB_CONCURRENCY", "1"}, {"CLUSTER_TEST_DEADLINE_MS", "1000"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(1));
  int const worker = m.worker_pid(0);
  client c(port);
  c.send("GET /wait?ms=5000 HTTP/1.1\r\nHost: test\r\n\r\n");
  REQUIRE(m.wait_line("async slow request started") >= 0);
  using clock = std::chrono::steady_clock;
  auto const asked = clock::now();
  CHECK(c.receive_all(4s).empty());  // closed, not answered
  CHECK(clock::now() - asked < 4s);
  // Nobody was killed: the worker's loop was free, it serves the next request at once.
  std::string const r = http_get(port, "/", 2s);
  CHECK(r.find("async pid=" + std::to_string(worker)) != std::string::npos);
  CHECK(m.count("worker_killed") == 0);
}

TEST_CASE("a route's own deadline, longer than the liveness timeout, is the one that counts") {
  // Liveness 1 s: a synchronous handler holds the loop, yet /report declares 4 s for itself.
  master_process m("http", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_LIVENESS_MS", "1000"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(2));
  // Within its 4 s: answered after 2.5 s, nobody killed.
  std::string const r = http_get(port, "/report?ms=2500", 10s);
  CHECK(r.find("200 OK") != std::string::npos);
  CHECK(m.count("worker_killed") == 0);
  // Past them: killed for its deadline, not judged hung by the liveness check at 1 s.
  client c(port);
  c.send("GET /report?ms=9000 HTTP/1.1\r\nHost: test\r\n\r\n");
  int const first = m.wait_line("slow request started");
  REQUIRE(first >= 0);
  std::string const busy =
      m.capture(R"(slow request started pid=(\d+))", 10s, static_cast<std::size_t>(first) + 1);
  REQUIRE(!busy.empty());
  using clock = std::chrono::steady_clock;
  auto const asked = clock::now();
  int const killed = m.wait_line("worker_killed id=\\d pid=" + busy + " ", 9s);
  REQUIRE(killed >= 0);
  CHECK(clock::now() - asked >= 3500ms);
  CHECK(m.count("worker_killed id=\\d pid=" + busy + " .*reason=deadline$") == 1);
  CHECK(
      m.count(R"(is hung \(its request past its deadline of 4000 ms\) in GET /report\?ms=9000)") ==
      1);
  CHECK(m.count("no heartbeat") == 0);
}

TEST_CASE("a synchronous handler without a deadline stays under the liveness timeout") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_LIVENESS_MS", "1000"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(2));
  client c(port);
  c.send("GET /slow?ms=9000 HTTP/1.1\r\nHost: test\r\n\r\n");
  std::string const busy = m.capture(R"(slow request started pid=(\d+))");
  REQUIRE(!busy.empty());
  REQUIRE(m.wait_line("worker_killed id=\\d pid=" + busy + " .*reason=hung$", 6s) >= 0);
  CHECK(m.count(R"(is hung \(no heartbeat for \d+ ms, liveness timeout 1000 ms\) in GET /slow)") ==
        1);
}
