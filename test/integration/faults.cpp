// SPDX-License-Identifier: BSL-1.0
// Faults injected while a load generator runs on loopback, each followed by the invariants of
// support/invariants.hpp. What may fail is written down in each case: nothing, except requests
// in flight on a process that was killed (docs/reliability.md).
#include "support/harness.hpp"
#include "support/invariants.hpp"
#include "support/load.hpp"

#include <catch2/catch.hpp>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace cluster::testing;

namespace {

/// A load generator on `port` with `connections` keep-alive connections, bounded to 120 s.
std::vector<std::string> load_args(int port, int connections) {
  return {"--port",        std::to_string(port),
          "--connections", std::to_string(connections),
          "--max-seconds", "120"};
}

void wait_connected(master_process& m, unsigned workers) {
  for (unsigned id = 0; id < workers; ++id) {
    REQUIRE(m.wait_line("worker_connected id=" + std::to_string(id)) >= 0);
  }
}

/// Waits for `more` answers beyond those so far, then stops the generator: its summary.
load_summary more_then_stop(load_process& load, std::uint64_t more = 500) {
  auto const now = load.progress();
  REQUIRE(now);
  REQUIRE(load.wait_ok(now->ok + more, 20s));
  auto const result = load.stop();
  REQUIRE(result);
  return *result;
}

std::string describe(load_summary const& r) {
  return "requests=" + std::to_string(r.requests) + " ok=" + std::to_string(r.ok) +
         " lost=" + std::to_string(r.lost) + " fresh_failed=" + std::to_string(r.fresh_failed) +
         " connect_errors=" + std::to_string(r.connect_errors) +
         " non200=" + std::to_string(r.non200);
}

}  // namespace

TEST_CASE("a hundred workers SIGKILLed at random moments under load: only their requests fail") {
  constexpr unsigned workers = 4;
  constexpr int connections = 8;
  master_process m("http", {{"WEB_CONCURRENCY", std::to_string(workers)},
                            {"CLUSTER_TEST_BACKOFF", "0,0,30000,20"}});
  int const port = m.port();
  wait_connected(m, workers);
  auto const before = snapshot(m, port);
  load_process load(load_args(port, connections));
  REQUIRE(load.wait_running());

  auto const seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 random(seed);
  std::set<int> victims;
  while (victims.size() < 100) {
    int const victim = m.worker_pid(static_cast<unsigned>(random() % workers));
    // A worker already killed and not yet replaced is not killed twice.
    if (victim <= 0 || victims.contains(victim) || !alive(victim)) {
      std::this_thread::sleep_for(1ms);
      continue;
    }
    ::kill(victim, SIGKILL);
    victims.insert(victim);
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 30));
  }
  check_invariants(m, port, workers, before);
  CHECK(m.count("worker_killed .* signal=9") == victims.size());
  CHECK(m.count("closing") == 0);
  auto const result = more_then_stop(load);
  INFO(describe(result));
  // The listening socket never refused anyone and every answer was a 200; what failed was in
  // flight on a killed worker: at most one request per connection per kill.
  CHECK(result.connect_errors == 0);
  CHECK(result.non200 == 0);
  CHECK(result.lost + result.fresh_failed <= victims.size() * connections);
}

TEST_CASE("the master stopped for three seconds under load: workers serve on, nothing fails") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  wait_connected(m, 2);
  auto const before = snapshot(m, port);
  load_process load(load_args(port, 8));
  REQUIRE(load.wait_running());
  auto const start = load.wait_ok(200, 20s);
  REQUIRE(start);

  m.signal(SIGSTOP);
  REQUIRE(wait_until([&] { return process_state(m.pid()) == 'T'; }));
  auto const stopped_at = clock::now();
  // Without their master, the workers still answer.
  REQUIRE(load.wait_ok(start->ok + 1000, 20s));
  std::this_thread::sleep_for(3s - (clock::now() - stopped_at));
  m.signal(SIGCONT);

  auto const result = more_then_stop(load, 1000);
  INFO(describe(result));
  CHECK(result.failures() == 0);
  check_invariants(m, port, 2, before);
  // The master acts again: a worker killed now is replaced.
  int const victim = m.worker_pid(0);
  ::kill(victim, SIGKILL);
  REQUIRE(m.wait_line("worker_connected id=0 pid=(?!" + std::to_string(victim) + ")") >= 0);
  check_invariants(m, port, 2, before);
  CHECK(m.count("closing") == 0);
}

namespace {

/// The tasks (processes and threads: what RLIMIT_NPROC counts) that run as `uid`.
int tasks_of(uid_t uid) {
  int n = 0;
  std::error_code ec;
  for (auto const& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::string const name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string const text = read_small_file(entry.path().string() + "/status");
    auto const u = text.find("\nUid:\t");
    auto const t = text.find("\nThreads:\t");
    if (u == std::string::npos || t == std::string::npos) continue;
    if (std::stoul(text.substr(u + 6)) == uid) n += std::stoi(text.substr(t + 10));
  }
  return n;
}

/// Processes of the test's running as `uid` and doing nothing: each takes one of that user's
/// tasks until they are ended.
class placeholders {
 public:
  placeholders(uid_t uid, int count) {
    for (int i = 0; i < count; ++i) {
      pid_t const pid = ::fork();
      if (pid == 0) {
        if (::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(1);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) ::pause();
      }
      if (pid > 0) pids_.push_back(pid);
    }
  }
  placeholders(placeholders const&) = delete;
  placeholders& operator=(placeholders const&) = delete;
  ~placeholders() { end(); }
  void end() {
    for (int pid : pids_) ::kill(pid, SIGKILL);
    for (int pid : pids_) ::waitpid(pid, nullptr, 0);
    pids_.clear();
  }

 private:
  std::vector<int> pids_;
};

}  // namespace

TEST_CASE("fork() failing: the master says so, tries again less and less often, serves on") {
  // RLIMIT_NPROC counts the tasks of a user, and root ignores it: the master runs as a user of
  // its own (unique per test run) allowed 64, and once it serves, placeholders of that user take
  // every task left (how many threads each process has depends on the build: a sanitizer's
  // runtime has its own).
  auto const uid = static_cast<uid_t>(40000 + ::getpid() % 20000);
  constexpr int limit = 64;
  master_process m(program{{CLUSTER_AS_USER, std::to_string(uid), std::to_string(limit),
                            CLUSTER_TEST_SERVER, "http"}},
                   {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  wait_connected(m, 2);
  auto const before = snapshot(m, port);
  load_process load(load_args(port, 8));
  REQUIRE(load.wait_running());
  placeholders held(uid, limit - tasks_of(uid));
  // Each placeholder takes its task once it has switched to the user.
  REQUIRE(wait_until([&] { return tasks_of(uid) >= limit; }));

  m.signal(SIGTTIN);  // a third worker: fork() fails with EAGAIN
  REQUIRE(m.wait_line("^cluster: cannot fork worker 2: Resource temporarily unavailable; trying "
                      "again in 100 ms, serving with 2 workers$") >= 0);
  REQUIRE(m.wait_line("^cluster: cannot fork worker 2: .*; trying again in 200 ms") >= 0);
  REQUIRE(m.wait_line("^cluster: cannot fork worker 2: .*; trying again in 400 ms") >= 0);
  auto const during = load.progress();
  REQUIRE(during);
  REQUIRE(load.wait_ok(during->ok + 500, 20s));

  // Room for one more process: the next attempt succeeds.
  held.end();
  REQUIRE(m.wait_line("^cluster: forked worker 2 after [0-9]+ failed attempts$", 20s) >= 0);
  REQUIRE(m.wait_line("worker_connected id=2") >= 0);
  auto const result = load.stop();
  REQUIRE(result);
  INFO(describe(*result));
  CHECK(result->failures() == 0);
  CHECK(m.count("closing") == 0);

  // Back to two workers, the master holds what it held before the failures.
  m.signal(SIGTTOU);
  REQUIRE(m.wait_line("worker_killed id=2") >= 0);
  check_invariants(m, port, 2, before);
}

TEST_CASE("the master SIGKILLed under load: its workers follow within a second, the port is free") {
  std::map<std::string, std::string> const env{{"WEB_CONCURRENCY", "2"}};
  auto first = std::make_unique<master_process>("http", env);
  int const port = first->port();
  wait_connected(*first, 2);
  std::vector<int> const workers{first->worker_pid(0), first->worker_pid(1)};
  load_process load(load_args(port, 8));
  REQUIRE(load.wait_running());

  first->signal(SIGKILL);
  // PR_SET_PDEATHSIG: the kernel tells each worker as its master dies.
  for (int pid : workers) CHECK(wait_until([&] { return !alive(pid); }, 1s));
  REQUIRE(first->wait(5s).has_value());

  // A new master binds the same port at once.
  auto env2 = env;
  env2["PORT"] = std::to_string(port);
  master_process second("http", env2);
  CHECK(second.port() == port);
  wait_connected(second, 2);
  auto const result = more_then_stop(load);
  INFO(describe(result));
  // Requests in flight when the master died, and connections refused until the second master
  // listened, fail; every answer that came was a 200.
  CHECK(result.non200 == 0);
  first.reset();
}

TEST_CASE("ten master restarts in a row under load, the later ones delayed as cyclic: none fails") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"},
                            {"CLUSTER_TEST_RESTART_THRESHOLD_MS", "1000"},
                            {"CLUSTER_TEST_RESTART_TIMEOUT_MS", "300"}});
  int const port = m.port();
  wait_connected(m, 2);
  auto const descriptors = descriptor_kinds(m.pid());
  auto const listener = listening_inode(port);
  load_process load(load_args(port, 8));
  REQUIRE(load.wait_running());

  int current = m.pid();
  for (int i = 0; i < 10; ++i) {
    INFO("restart " << i + 1 << " of master " << current);
    std::size_t const from = m.lines().size();
    ::kill(current, SIGUSR2);
    std::string const next =
        m.capture(R"(cluster: restart: new master (\d+) is serving)", 30s, from);
    REQUIRE_FALSE(next.empty());
    if (i == 0) {
      CHECK(m.wait(20s) == 0);
    } else {
      CHECK(wait_gone(current));
    }
    current = std::stoi(next);
    REQUIRE(m.wait_line("cluster-event: restart$", 10s, from) >= 0);
  }
  // Restarts less than a second apart: the later ones waited out the cyclic delay.
  CHECK(m.count("cluster: cyclic restart") >= 1);
  REQUIRE(wait_until([&] { return live_children(current).size() == 2; }));
  for (auto const& [pid, state] : children_of(current)) CHECK(state != 'Z');
  CHECK(descriptor_kinds(current) == descriptors);
  CHECK(listening_inode(port) == listener);
  auto const result = load.stop();
  REQUIRE(result);
  INFO(describe(*result));
  CHECK(result->failures() == 0);
  ::kill(current, SIGQUIT);
  CHECK(wait_gone(current));
}

namespace {

/// The ids the master's live workers have, once that has not changed for half a second (the
/// master has settled), as last reported; empty if it never settles within `limit`.
std::set<unsigned> settled_ids(master_process& m, std::chrono::milliseconds limit = 30s) {
  auto const ids_now = [&] {
    std::set<int> const live = live_children(m.pid());
    std::set<unsigned> ids;
    for (auto const& [id, pid] : m.worker_pids()) {
      if (live.contains(pid)) ids.insert(id);
    }
    // Every live child must be a reported worker, and no zombie waits.
    return ids.size() == live.size() ? ids : std::set<unsigned>{999};
  };
  auto const until = clock::now() + limit;
  std::set<unsigned> last = ids_now();
  auto since = clock::now();
  while (clock::now() < until) {
    std::this_thread::sleep_for(20ms);
    auto const ids = ids_now();
    if (ids != last) {
      last = ids;
      since = clock::now();
    } else if (clock::now() - since >= 500ms && !last.contains(999)) {
      return last;
    }
  }
  return {};
}

}  // namespace

TEST_CASE("a burst of mixed control signals settles; spaced signals are then obeyed exactly") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  wait_connected(m, 2);
  load_process load(load_args(port, 8));
  REQUIRE(load.wait_running());

  // Signals of one kind coalesce while pending: a burst has no exact expected outcome, but the
  // master must come out of it with every worker it wants, and serving.
  for (int round = 0; round < 20; ++round) {
    for (int sig : {SIGTTIN, SIGTTIN, SIGUSR1, SIGTTOU, SIGHUP, SIGTTIN, SIGTTOU}) m.signal(sig);
  }
  auto const after_burst = settled_ids(m);
  REQUIRE_FALSE(after_burst.empty());
  unsigned const n = static_cast<unsigned>(after_burst.size());
  // Ids stay dense: 0..n-1.
  CHECK(*after_burst.rbegin() == n - 1);
  CHECK(m.count("closing") == 0);

  // Spaced, each one awaited: obeyed one for one.
  for (int i = 0; i < 3; ++i) {
    std::size_t const from = m.lines().size();
    m.signal(SIGTTIN);
    // In two steps, so that a failure says which one did not come: the fork, or the accept.
    std::string const id = std::to_string(n + i);
    REQUIRE(m.wait_line("worker_spawned id=" + id + " ", 10s, from) >= 0);
    REQUIRE(m.wait_line("worker_connected id=" + id + " ", 10s, from) >= 0);
  }
  {
    std::size_t const from = m.lines().size();
    m.signal(SIGTTOU);
    REQUIRE(m.wait_line("worker_killed id=" + std::to_string(n + 2) + " ", 10s, from) >= 0);
  }
  auto const final_ids = settled_ids(m);
  CHECK(final_ids.size() == n + 2);
  auto const result = load.stop();
  REQUIRE(result);
  INFO(describe(*result));
  // Rolling restarts (SIGHUP) and scaling down stop workers gracefully: nothing fails.
  CHECK(result->failures() == 0);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}
