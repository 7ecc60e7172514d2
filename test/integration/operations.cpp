// SPDX-License-Identifier: BSL-1.0
// The master's operations called by a plugin: spawn(-1) removes a worker, kill() signals all.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

using namespace cluster::testing;

TEST_CASE("spawn(-1) stops the highest worker gracefully and does not replace it") {
  master_process m("ops", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_ACTION", "spawn-1"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  int const removed = m.worker_pid(1);
  REQUIRE(m.wait_line("test action spawn-1") >= 0);
  REQUIRE(m.wait_line("worker_removed id=1 pid=" + std::to_string(removed)) >= 0);
  // It was asked to stop (SIGQUIT) and exited on its own, not killed.
  CHECK(m.count("worker_killed id=1 pid=" + std::to_string(removed) +
                " code=0 signal=0 reason=removed") == 1);
  CHECK_FALSE(alive(removed));
  // Worker 0 serves every request now, and no worker 1 comes back.
  for (int i = 0; i < 5; ++i) CHECK(served_by(http_get(port, "/")) == m.worker_pid(0));
  CHECK(m.count("worker_spawned id=1") == 1);
  CHECK(m.count("worker_spawned") == 2);
  CHECK(m.count("closing") == 0);
  m.signal(SIGTERM);
  CHECK(m.wait(5s) == 0);
}

TEST_CASE("kill() emits the kill event and sends SIGTERM to every worker, which are replaced") {
  master_process m("ops", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_ACTION", "kill"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  // The first workers, read from their spawn lines: by now the kill may already have happened and
  // the latest worker with each id be a replacement.
  int const first0 = std::stoi(m.capture(R"(worker_spawned id=0 pid=(\d+))"));
  int const first1 = std::stoi(m.capture(R"(worker_spawned id=1 pid=(\d+))"));
  REQUIRE(m.wait_line("cluster-event: kill signal=15") >= 0);
  // Deaths the master caused with kill(): `killed`, not crashes.
  REQUIRE(m.wait_line("worker_killed id=0 pid=" + std::to_string(first0) +
                      " code=0 signal=15 reason=killed") >= 0);
  REQUIRE(m.wait_line("worker_killed id=1 pid=" + std::to_string(first1) +
                      " code=0 signal=15 reason=killed") >= 0);
  // While the master is active, workers killed by the signal are replaced with their ids.
  REQUIRE(m.wait_line("worker_connected id=0 pid=(?!" + std::to_string(first0) + ")") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1 pid=(?!" + std::to_string(first1) + ")") >= 0);
  CHECK(m.count("cluster-event: kill ") == 1);
  CHECK(m.count("closing") == 0);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}

TEST_CASE("kill(signal) sends that signal") {
  master_process m("ops", {{"WEB_CONCURRENCY", "1"}, {"CLUSTER_TEST_ACTION", "kill-9"}});
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  int const first = std::stoi(m.capture(R"(worker_spawned id=0 pid=(\d+))"));  // not a replacement
  REQUIRE(m.wait_line("cluster-event: kill signal=9") >= 0);
  REQUIRE(m.wait_line("worker_killed id=0 pid=" + std::to_string(first) + " code=0 signal=9") >= 0);
  REQUIRE(m.wait_line("worker_connected id=0 pid=(?!" + std::to_string(first) + ")") >= 0);
}
