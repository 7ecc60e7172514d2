// SPDX-License-Identifier: BSL-1.0
// A hundred worker replacements leave the master without zombies or leaked descriptors.
#include "support/harness.hpp"
#include "support/invariants.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

using namespace cluster::testing;

namespace {

/// The number of descriptors `pid` has open.
std::size_t open_descriptors(int pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] auto const& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("a hundred SIGKILLed workers are reaped and replaced without leaking descriptors") {
  // Deaths of serving workers never make the master give up. The crash-loop waits are turned off
  // (max_delay 0): each replacement comes at once, as for a worker that lived long.
  master_process m("http", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_BACKOFF", "0,0,30000,20"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  std::size_t const fds_before = open_descriptors(m.pid());

  std::size_t from = m.lines().size();
  for (int i = 0; i < 100; ++i) {
    unsigned const id = static_cast<unsigned>(i % 2);
    int const victim = m.worker_pid(id);
    REQUIRE(victim > 0);
    ::kill(victim, SIGKILL);
    std::string const sid = std::to_string(id);
    // The replacement is up once it reports connected; the victim was reaped before it forked.
    int const at = m.wait_line(
        "worker_connected id=" + sid + " pid=(?!" + std::to_string(victim) + ")", 10s, from);
    REQUIRE(at >= 0);
    from = static_cast<std::size_t>(at) + 1;
  }

  CHECK(m.count("worker_killed .* signal=9") == 100);
  CHECK(m.count("worker_spawned") == 102);
  CHECK(m.count("closing") == 0);
  CHECK(open_descriptors(m.pid()) == fds_before);
  // Only the master's own children: orphans elsewhere on the machine are not its business.
  auto const children = children_of(m.pid());
  std::set<int> live;
  for (auto const& [pid, state] : children) {
    CHECK(state != 'Z');
    if (state != 'Z') live.insert(pid);
  }
  CHECK(live == std::set<int>{m.worker_pid(0), m.worker_pid(1)});
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}

TEST_CASE("a replacement holds none of the dead worker's descriptors") {
  // The master closes a dead worker's channel, pidfd and trace file only once its replacement is
  // forked; the replacement closes its copies. Liveness is on, so that each worker has a trace
  // file, and worker 1 is found hung, the path that keeps the most of the dead worker.
  master_process m("http", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_LIVENESS_MS", "1000"}});
  REQUIRE(m.workers_connected(2));
  int const first = m.worker_pid(0);
  auto const expected = descriptor_kinds(first);
  REQUIRE(!expected.empty());

  SECTION("a worker SIGKILLed") {
    ::kill(first, SIGKILL);
    REQUIRE(m.wait_line("worker_connected id=0 pid=(?!" + std::to_string(first) + ")", 10s) >= 0);
    CHECK(descriptor_kinds(m.worker_pid(0)) == expected);
  }
  SECTION("a worker found hung, then killed") {
    int const hung = m.worker_pid(1);
    ::kill(hung, SIGSTOP);
    REQUIRE(m.wait_line("worker_connected id=1 pid=(?!" + std::to_string(hung) + ")", 20s) >= 0);
    CHECK(m.count("worker_hung id=1 pid=" + std::to_string(hung) + " ") == 1);
    CHECK(descriptor_kinds(m.worker_pid(1)) == expected);
    CHECK(descriptor_kinds(first) == expected);
  }
}
