// SPDX-License-Identifier: BSL-1.0
// Crash loops (docs/health.md): a worker id that keeps dying is replaced after growing waits,
// while the healthy workers serve on and the master stays up.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

using namespace cluster::testing;

namespace {

struct backoff_line {
  unsigned deaths;
  long delay;
};

/// The `worker_backoff` lines of worker `id` so far.
std::vector<backoff_line> backoffs(master_process& m, unsigned id) {
  std::vector<backoff_line> out;
  std::regex const re("worker_backoff id=" + std::to_string(id) +
                      R"( pid=\d+ deaths=(\d+) delay=(\d+))");
  (void)m.count("^$");  // reads what the master wrote so far
  for (auto const& l : m.lines()) {
    std::smatch sm;
    if (std::regex_search(l, sm, re))
      out.push_back({static_cast<unsigned>(std::stoul(sm[1].str())), std::stol(sm[2].str())});
  }
  return out;
}

}  // namespace

TEST_CASE("a worker that crashes on every request waits longer each time; the others serve on") {
  // Worker 1 exits on every request it takes; worker 0 is healthy. Waits: 100, 200, 400, 800 ms,
  // then 800 ms (the cap), each up to 20 % shorter.
  master_process m("http", {{"WEB_CONCURRENCY", "2"},
                            {"CLUSTER_TEST_CRASH_WORKER", "1"},
                            {"CLUSTER_TEST_BACKOFF", "100,800,30000,20"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(2));
  int const healthy = m.worker_pid(0);
  REQUIRE(healthy > 0);

  // Four seconds of requests, one connection each, as fast as they are answered.
  using clock = std::chrono::steady_clock;
  auto const start = clock::now();
  auto last_answer = start;
  clock::duration longest_gap{};
  int answered = 0;
  int failed = 0;
  while (clock::now() - start < 4s) {
    std::string const r = http_get(port, "/", 2s);
    if (r.find("200 OK") != std::string::npos) {
      CHECK(served_by(r) == healthy);
      ++answered;
      auto const now = clock::now();
      longest_gap = std::max(longest_gap, now - last_answer);
      last_answer = now;
    } else {
      ++failed;  // taken by worker 1, which died with it
    }
    (void)m.count("^$");  // keep the master's stderr flowing
  }
  INFO("answered " << answered << ", failed " << failed);

  // The healthy worker answered all along, and was never replaced.
  CHECK(answered > 100);
  CHECK(longest_gap < 1s);
  CHECK(m.worker_pid(0) == healthy);
  CHECK(m.count("worker_killed id=0 ") == 0);

  // Worker 1 was forked a handful of times, not once per request: its waits grew, then held.
  auto const b = backoffs(m, 1);
  REQUIRE(b.size() >= 4);
  long const expected[] = {100, 200, 400, 800, 800, 800, 800, 800};
  for (std::size_t i = 0; i < b.size() && i < std::size(expected); ++i) {
    INFO("wait " << i);
    CHECK(b[i].deaths == i + 2);
    CHECK(b[i].delay <= expected[i]);
    CHECK(b[i].delay >= expected[i] * 8 / 10);
  }
  auto const forks = m.count("worker_spawned id=1 ");
  CHECK(forks <= b.size() + 3);
  CHECK(static_cast<int>(forks) < failed + 3);
  // The master never gave up and still runs.
  CHECK(m.count("keep dying") == 0);
  CHECK_FALSE(m.wait(1ms).has_value());
}

TEST_CASE("a crash loop's wait ends with a shutdown: the master does not linger for it") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"},
                            {"CLUSTER_TEST_CRASH_WORKER", "1"},
                            {"CLUSTER_TEST_BACKOFF", "5000,5000,30000,20"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(2));
  // Two deaths of worker 1 in a row: the second replacement waits 4 to 5 s. Which worker the
  // kernel hands a connection to is its choice: ask until worker 1 has taken two, within 20 s.
  auto const limit = std::chrono::steady_clock::now() + 20s;
  while (backoffs(m, 1).empty() && std::chrono::steady_clock::now() < limit)
    (void)http_get(port, "/", 2s);
  REQUIRE(backoffs(m, 1).size() == 1);
  auto const asked = std::chrono::steady_clock::now();
  m.signal(SIGQUIT);
  REQUIRE(m.wait(10s) == std::optional<int>{0});
  CHECK(std::chrono::steady_clock::now() - asked < 3s);
  CHECK(m.count("worker_spawned id=1 ") == 2);
}
