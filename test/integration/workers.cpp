// SPDX-License-Identifier: BSL-1.0
// Workers serve on the shared socket, are replaced when they die, and follow the master's death.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace cluster::testing;

TEST_CASE("N workers serve requests from distinct processes") {
  master_process m("http", {{"WEB_CONCURRENCY", "3"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=2") >= 0);
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  auto const spawned = m.seen_pids();
  std::set<int> const pids(spawned.begin(), spawned.end());
  REQUIRE(pids.size() == 3);
  CHECK(pids.count(m.pid()) == 0);
  // Every response comes from one of the workers, never from the master.
  std::set<int> served;
  for (int i = 0; i < 30; ++i) {
    std::string const r = http_get(port, "/");
    REQUIRE(r.find("200 OK") != std::string::npos);
    served.insert(served_by(r));
  }
  for (int pid : served) CHECK(pids.count(pid) == 1);
}

TEST_CASE("HTTP keep-alive serves several requests on one connection") {
  master_process m("http", {{"WEB_CONCURRENCY", "1"}});
  client c(m.port());
  for (int i = 0; i < 3; ++i) {
    c.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    std::string const r = c.receive([](std::string const& s) {
      return s.find("worker=") != std::string::npos && s.back() == '\n';
    });
    CHECK(r.find("200 OK") != std::string::npos);
    CHECK(r.find("Connection: close") == std::string::npos);
  }
}

TEST_CASE("a worker killed with SIGKILL is replaced with the same id") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  int const victim = m.worker_pid(1);
  REQUIRE(victim > 0);
  ::kill(victim, SIGKILL);
  REQUIRE(m.wait_line("worker_killed id=1 pid=" + std::to_string(victim) +
                      " code=0 signal=9 reason=crashed") >= 0);
  int const at = m.wait_line("worker_connected id=1 pid=(?!" + std::to_string(victim) + ")");
  REQUIRE(at >= 0);
  int const replacement = m.worker_pid(1);
  // The master's view of the replacement: the second of its id, and how the first ended.
  CHECK(m.wait_line("worker_view id=1 pid=" + std::to_string(replacement) +
                    " generation=2 state=ready last=crashed,pid=" + std::to_string(victim) +
                    ",signal=9") >= 0);
  CHECK(m.wait_line("worker_view id=0 pid=\\d+ generation=1 state=ready last=none") >= 0);
  CHECK(replacement != victim);
  CHECK(alive(replacement));
  CHECK(alive(m.worker_pid(0)));
  CHECK(m.count("worker_spawned") == 3);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}

TEST_CASE("workers exit promptly when the master is killed with SIGKILL") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  auto const workers = m.seen_pids();
  m.signal(SIGKILL);
  REQUIRE(m.wait(5s).has_value());
  for (int pid : workers) CHECK(wait_until([&] { return !alive(pid); }, 5s));
}

TEST_CASE("SIGTTIN adds a worker and SIGTTOU removes one") {
  master_process m("http", {{"WEB_CONCURRENCY", "1"}});
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  m.signal(SIGTTIN);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  int const added = m.worker_pid(1);
  m.signal(SIGTTOU);
  REQUIRE(m.wait_line("worker_removed id=1 pid=" + std::to_string(added)) >= 0);
  CHECK_FALSE(alive(added));
  CHECK(alive(m.worker_pid(0)));
  // A removed worker is not replaced.
  CHECK(m.count("worker_spawned id=1") == 1);
}

TEST_CASE("an exception escaping a handler is reported and the worker replaced") {
  master_process m("http", {{"WEB_CONCURRENCY", "1"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  int const first = m.worker_pid(0);
  (void)http_get(port, "/throw");
  CHECK(m.wait_line("worker_exception id=0 pid=" + std::to_string(first) +
                    " what=handler failed on purpose") >= 0);
  CHECK(m.wait_line("worker_killed id=0 pid=" + std::to_string(first) + " code=1") >= 0);
  CHECK(m.wait_line("worker_connected id=0 pid=(?!" + std::to_string(first) + ")") >= 0);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}
