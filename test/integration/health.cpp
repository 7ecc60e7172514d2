// SPDX-License-Identifier: BSL-1.0
// Worker health: hung workers are found, traced and replaced; the master's own pauses and a
// debugger's are nobody's fault.
#include "../support/temp_dir.hpp"
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <string>

using namespace cluster::testing;

namespace {

/// True once `pid` has no `signal` pending: it has been delivered (handled or ignored).
bool delivered(int pid, int signal) {
  std::string const status = read_small_file("/proc/" + std::to_string(pid) + "/status");
  for (char const* field : {"SigPnd:", "ShdPnd:"}) {
    auto const at = status.find(field);
    if (at == std::string::npos) return false;
    unsigned long long const mask = std::strtoull(status.c_str() + at + 7, nullptr, 16);
    if ((mask >> (signal - 1)) & 1U) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a handler that blocks forever is killed after the liveness timeout, with a trace") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_LIVENESS_MS", "1000"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(2));
  client stuck(port);
  stuck.send("GET /hang?report=7 HTTP/1.1\r\nHost: test\r\n\r\n");
  std::string const pid = m.capture(R"(hanging in handler pid=(\d+))");
  REQUIRE(!pid.empty());
  // The other worker serves meanwhile.
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
  std::string const id = m.capture("worker_spawned id=(\\d) pid=" + pid);
  int const hung = m.wait_line("worker_hung id=" + id + " pid=" + pid +
                                   R"( reason=hung why=no heartbeat for \d+ ms, liveness timeout )"
                                   R"(1000 ms request=GET /hang\?report=7 from 127\.0\.0\.1:\d+, )"
                                   R"(for \d+ ms lines=[1-9])",
                               15s);
  REQUIRE(hung >= 0);
  // The worker's own handler wrote its stack: the function it hangs in is named.
  CHECK(m.count(R"(^cluster-event: worker_hung_trace #\d+ cluster_test::hang_in_handler\(\))") ==
        1);
  CHECK(m.wait_line("worker_killed id=\\d pid=" + pid + " code=0 signal=9 reason=hung", 5s) >= 0);
  // The master said it on stderr too, with the trace, and replaced the worker.
  CHECK(m.count("^cluster: worker \\d \\(pid " + pid +
                R"(\) hung \(no heartbeat for .*\) in GET /hang\?report=7 from .*; killed and )"
                R"(replaced:$)") == 1);
  CHECK(m.wait_line("worker_connected id=" + id + " ", 10s, static_cast<std::size_t>(hung)) >= 0);
  // The hung request's connection is closed, not left open.
  CHECK(stuck.receive_all(5s).empty());
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}

TEST_CASE("a stopped worker is killed, with what /proc shows of it") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_LIVENESS_MS", "1000"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(2));
  int const victim = m.worker_pid(0);
  REQUIRE(victim > 0);
  ::kill(victim, SIGSTOP);
  std::string const who = "id=0 pid=" + std::to_string(victim);
  // A stopped process runs no signal handler: the master falls back to /proc.
  REQUIRE(m.wait_line("worker_hung " + who + " reason=hung why=no heartbeat", 15s) >= 0);
  CHECK(m.count(R"(^cluster-event: worker_hung_trace state: T \(stopped\)$)") == 1);
  CHECK(m.count(R"(^cluster-event: worker_hung_trace wchan: )") == 1);
  int const killed = m.wait_line("worker_killed " + who + " code=0 signal=9 reason=hung", 5s);
  REQUIRE(killed >= 0);
  // Its replacement: a line after the death, not the first worker's own.
  CHECK(m.wait_line("worker_connected id=0 ", 10s, static_cast<std::size_t>(killed)) >= 0);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}

TEST_CASE("the master's own pause is not its workers' fault") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_LIVENESS_MS", "1000"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(2));
  int const first = m.worker_pid(0);
  int const second = m.worker_pid(1);
  SECTION("the master alone stopped") {
    ::kill(m.pid(), SIGSTOP);
    // The pause is the scenario itself, three times the liveness timeout.
    std::this_thread::sleep_for(3s);
    ::kill(m.pid(), SIGCONT);
  }
  SECTION("the master and its workers stopped together, as Ctrl-Z does") {
    ::kill(-m.pid(), SIGSTOP);
    std::this_thread::sleep_for(3s);
    // The master first, as the scheduler may well order it: its first check then comes before
    // the workers could beat again.
    ::kill(m.pid(), SIGCONT);
    std::this_thread::sleep_for(200ms);
    ::kill(-m.pid(), SIGCONT);
  }
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
  // A probe instead of a fixed wait: worker 1 stopped now is found hung only after a full
  // liveness timeout of checks that followed the pause. Those checks must have judged worker 0
  // healthy, and nothing may have been judged before the probe.
  ::kill(second, SIGSTOP);
  int const probe = m.wait_line("worker_hung id=1 pid=" + std::to_string(second) + " ", 15s);
  REQUIRE(probe >= 0);
  // REQUIRE: on failure, the master's lines are printed.
  REQUIRE(m.count("^cluster-event: worker_hung ") == 1);
  REQUIRE(m.count("worker_killed id=0 ") == 0);
  CHECK(m.worker_pid(0) == first);
}

TEST_CASE("a worker that never accepts is killed after the boot timeout and replaced") {
  temp_dir dir("cluster-boot-timeout");
  auto const broken = dir.path() / "broken";
  std::ofstream(broken) << "hang\n";
  master_process m("http", {{"WEB_CONCURRENCY", "1"},
                            {"CLUSTER_TEST_BOOT_MS", "1000"},
                            {"CLUSTER_TEST_BREAK_FILE", broken.string()}});
  std::string const pid = m.capture(R"(worker_spawned id=0 pid=(\d+))");
  REQUIRE(!pid.empty());
  int const hung = m.wait_line("worker_hung id=0 pid=" + pid +
                                   R"( reason=boot timeout why=not accepting \d+ ms after its )"
                                   R"(start, boot timeout 1000 ms request= lines=[1-9])",
                               15s);
  REQUIRE(hung >= 0);
  CHECK(m.wait_line("worker_killed id=0 pid=" + pid + " code=0 signal=9 reason=boot timeout", 5s) >=
        0);
  // The deploy is fixed: the replacement starts and serves.
  std::filesystem::remove(broken);
  CHECK(m.wait_line("worker_connected id=0 ", 15s) >= 0);
  CHECK(http_get(m.port(), "/").find("200 OK") != std::string::npos);
}

TEST_CASE("a worker held by a debugger is not judged hung") {
  master_process m("http", {{"WEB_CONCURRENCY", "1"}, {"CLUSTER_TEST_LIVENESS_MS", "1000"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(1));
  int const victim = m.worker_pid(0);
  REQUIRE(::ptrace(PTRACE_SEIZE, victim, nullptr, nullptr) == 0);
  REQUIRE(::ptrace(PTRACE_INTERRUPT, victim, nullptr, nullptr) == 0);
  int status = 0;
  REQUIRE(::waitpid(victim, &status, __WALL) == victim);
  CHECK(m.wait_line("cluster: worker 0 \\(pid " + std::to_string(victim) +
                        R"(\) is held by a debugger \(pid \d+\); it is not judged hung)",
                    15s) >= 0);
  ::ptrace(PTRACE_DETACH, victim, nullptr, nullptr);
  CHECK(http_get(port, "/").find("pid=" + std::to_string(victim)) != std::string::npos);
  CHECK(m.count("worker_hung") == 0);
  CHECK(m.count("worker_killed") == 0);
}

TEST_CASE("a trace signal the master did not send does nothing") {
  master_process m("http", {{"WEB_CONCURRENCY", "1"}, {"CLUSTER_TEST_LIVENESS_MS", "1000"}});
  int const port = m.port();
  REQUIRE(m.workers_connected(1));
  int const victim = m.worker_pid(0);
  ::kill(victim, SIGUSR2);
  REQUIRE(wait_until([&] { return delivered(victim, SIGUSR2); }, 5s));
  CHECK(http_get(port, "/").find("pid=" + std::to_string(victim)) != std::string::npos);
  CHECK(m.count("worker_killed") == 0);
}
