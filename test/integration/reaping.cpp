// SPDX-License-Identifier: BSL-1.0
// The master's knowledge of its children does not hang on signal delivery: a worker with Asio
// signal handling of its own neither takes the master's SIGCHLD nor hands the master its signals.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace cluster::testing;

TEST_CASE(
    "workers with an Asio signal_set of their own: every SIGKILLed one is reaped and replaced") {
  // Before each worker reset what Asio state it inherited, the master and its workers shared
  // Asio's signal pipe: a worker's io_context read the byte the master's SIGCHLD handler wrote,
  // and the master never learnt that a worker had died.
  master_process m("asio-signals",
                   {{"WEB_CONCURRENCY", "4"}, {"CLUSTER_TEST_BACKOFF", "0,0,30000,20"}});
  for (int id = 0; id < 4; ++id) {
    REQUIRE(m.wait_line("asio job " + std::to_string(id) + " running") >= 0);
    // The worker's own line may come before the master's about it, which names its pid.
    REQUIRE(m.wait_line("worker_connected id=" + std::to_string(id)) >= 0);
  }
  std::size_t from = m.lines().size();
  for (int i = 0; i < 40; ++i) {
    unsigned const id = static_cast<unsigned>(i % 4);
    int const victim = m.worker_pid(id);
    REQUIRE(victim > 0);
    ::kill(victim, SIGKILL);
    int const at = m.wait_line(
        "asio job " + std::to_string(id) + " running pid=(?!" + std::to_string(victim) + ")", 10s,
        from);
    INFO("kill " << i << " of worker " << id << " (pid " << victim << "), from line " << from);
    REQUIRE(at >= 0);
    from = static_cast<std::size_t>(at) + 1;
  }
  CHECK(m.count("worker_killed .* signal=9") == 40);
  CHECK(m.count("closing") == 0);
}

TEST_CASE("a signal a worker's own signal_set catches stays in that worker") {
  // SIGHUP sent to the master restarts it; sent to a worker that handles it, it is the
  // worker's alone. Through a shared signal pipe the master read it as its own and restarted.
  master_process m("asio-signals", {{"WEB_CONCURRENCY", "2"}});
  REQUIRE(m.wait_line("asio job 0 running") >= 0);
  REQUIRE(m.wait_line("asio job 1 running") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  int const worker = m.worker_pid(1);
  std::size_t from = m.lines().size();
  for (int i = 0; i < 10; ++i) {
    ::kill(worker, SIGHUP);
    int const at = m.wait_line("asio job 1 got signal 1 pid=" + std::to_string(worker), 5s, from);
    REQUIRE(at >= 0);
    from = static_cast<std::size_t>(at) + 1;
  }
  // The master's own SIGQUIT, then: it stops, and saw nothing else before.
  m.signal(SIGQUIT);
  REQUIRE(m.wait(10s) == 0);
  CHECK(m.count("cluster-event: restarting") == 0);
  CHECK(m.count("cluster-event: closing graceful=1") == 1);
  CHECK(m.count("asio job 0 got signal") == 0);
}

namespace {

/// Kills each of `workers` workers `rounds` times in turn; true once every one was replaced.
void kill_and_expect_replacements(master_process& m, unsigned workers, int rounds) {
  std::size_t from = m.lines().size();
  for (int i = 0; i < rounds; ++i) {
    unsigned const id = static_cast<unsigned>(i) % workers;
    int const victim = m.worker_pid(id);
    REQUIRE(victim > 0);
    ::kill(victim, SIGKILL);
    int const at = m.wait_line(
        "worker_connected id=" + std::to_string(id) + " pid=(?!" + std::to_string(victim) + ")",
        10s, from);
    INFO("kill " << i << " of worker " << id << " (pid " << victim << ")");
    REQUIRE(at >= 0);
    from = static_cast<std::size_t>(at) + 1;
  }
  CHECK(m.count("worker_killed .* signal=9") == static_cast<std::size_t>(rounds));
}

}  // namespace

TEST_CASE("with SIGCHLD lost, each worker's pidfd still tells the master it ended") {
  master_process m("http",
                   {{"CLUSTER_TEST_BLOCK_SIGCHLD", "1"}, {"CLUSTER_TEST_BACKOFF", "0,0,30000,20"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  kill_and_expect_replacements(m, 2, 20);
  CHECK(m.count("no pidfd") == 0);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}

TEST_CASE("on a kernel without pidfds the master says so once, and SIGCHLD reaps every worker") {
  master_process m(program{{CLUSTER_NO_PIDFD, CLUSTER_TEST_SERVER, "http"}},
                   {{"CLUSTER_TEST_BACKOFF", "0,0,30000,20"}});
  int const port = m.port();
  REQUIRE(m.wait_line("^cluster: no pidfd on this kernel \\(Function not implemented; Linux 5.3 "
                      "or later has them\\): workers' ends are noticed by SIGCHLD, and by a "
                      "sweep every 1000 ms should one be lost$") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  kill_and_expect_replacements(m, 2, 20);
  CHECK(m.count("no pidfd") == 1);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}

TEST_CASE("with neither pidfds nor SIGCHLD, the periodic sweep still reaps and replaces") {
  master_process m(program{{CLUSTER_NO_PIDFD, CLUSTER_TEST_SERVER, "http"}},
                   {{"CLUSTER_TEST_BLOCK_SIGCHLD", "1"}, {"CLUSTER_TEST_BACKOFF", "0,0,30000,20"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  kill_and_expect_replacements(m, 2, 4);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
  // A graceful stop, too, is noticed by the sweep alone.
  m.signal(SIGQUIT);
  CHECK(m.wait(10s) == 0);
}
