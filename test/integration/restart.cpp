// SPDX-License-Identifier: BSL-1.0
// Restart without downtime, under load: master restart, rolling restart, graceful shutdown, bad
// deploys, state handover and restart storms.
#include "../support/temp_dir.hpp"
#include "support/harness.hpp"
#include "support/invariants.hpp"
#include "support/load.hpp"

#include <cluster/os/hang.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <dirent.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace cluster::testing;
namespace fs = std::filesystem;

namespace {

/// A load generator on `port`: 50 keep-alive connections, bounded to 300 s, so that it outlasts a
/// wait the kernel holds up (three minutes at most: see held_up_by_kernel).
std::vector<std::string> load_args(int port) {
  return {"--port", std::to_string(port), "--connections", "50", "--max-seconds", "300"};
}

/// A copy of the test server in a temporary directory, to be replaced as a deploy would.
struct deployed_copy {
  temp_dir where{"cluster-deploy"};
  fs::path const& dir = where.path();
  fs::path app = dir / "app";

  explicit deployed_copy(fs::path const& from) {
    fs::copy_file(from, app);
    fs::permissions(app, fs::perms::owner_all);
  }

  /// Puts `next` at the app's path the way deploys do: a new file renamed over the old one.
  void deploy(fs::path const& next, fs::perms perms = fs::perms::owner_all) const {
    fs::path const staged = dir / "app.new";
    fs::copy_file(next, staged, fs::copy_options::overwrite_existing);
    fs::permissions(staged, perms);
    fs::rename(staged, app);
  }

  /// Deploys a script with `body` instead of a program.
  void deploy_script(std::string const& body) const {
    fs::path const staged = dir / "app.new";
    std::ofstream(staged) << "#!/bin/sh\n" << body << "\n";
    fs::permissions(staged, fs::perms::owner_all);
    fs::rename(staged, app);
  }
};

constexpr char const* serving = R"(cluster: restart: new master (\d+) is serving)";

}  // namespace

TEST_CASE("a master restart under load loses no request and leaves exactly N workers") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  auto const old_workers = live_children(m.pid());
  REQUIRE(old_workers.size() == 2);
  auto const fds_before = descriptor_kinds(m.pid());

  load_process load(load_args(port));
  REQUIRE(load.wait_running());
  auto const before = load.wait_ok(500, 10s);
  REQUIRE(before);
  m.signal(SIGUSR2);
  std::string const next = m.capture(serving, 20s);
  REQUIRE_FALSE(next.empty());
  int const successor = std::stoi(next);
  CHECK(m.wait(20s) == 0);  // the old master drained and exited
  REQUIRE(load.wait_ok(before->ok + 2000, 20s));
  auto const result = load.stop();
  REQUIRE(result);
  INFO("requests=" << result->requests << " ok=" << result->ok << " lost=" << result->lost
                   << " fresh_failed=" << result->fresh_failed
                   << " connect_errors=" << result->connect_errors << " non200=" << result->non200);
  CHECK(result->failures() == 0);

  // The successor serves with its own two workers; every old one is gone.
  REQUIRE(wait_until([&] { return live_children(successor).size() == 2; }));
  for (int pid : old_workers) CHECK_FALSE(alive(pid));
  int const answered_by = served_by(http_get(port, "/"));
  CHECK(live_children(successor).count(answered_by) == 1);
  // The `restart` event came once the old master had gone: the handoff socket is closed, so the
  // successor holds exactly what the first master held.
  REQUIRE(m.wait_line("cluster-event: restart$", 10s) >= 0);
  CHECK(descriptor_kinds(successor) == fds_before);

  ::kill(successor, SIGQUIT);
  CHECK(wait_gone(successor));
}

TEST_CASE("a rolling restart under load replaces every worker and loses no request") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  auto const old_workers = live_children(m.pid());
  REQUIRE(old_workers.size() == 2);

  load_process load(load_args(port));
  REQUIRE(load.wait_running());
  auto const before = load.wait_ok(500, 10s);
  REQUIRE(before);
  m.signal(SIGHUP);
  REQUIRE(m.wait_line(R"(cluster: rolling restart: every worker replaced \(2\))", 20s) >= 0);
  REQUIRE(wait_until(
      [&] {
        for (int pid : old_workers) {
          if (alive(pid)) return false;
        }
        return true;
      },
      20s));
  REQUIRE(load.wait_ok(before->ok + 2000, 20s));
  auto const result = load.stop();
  REQUIRE(result);
  INFO("lost=" << result->lost << " fresh_failed=" << result->fresh_failed
               << " connect_errors=" << result->connect_errors << " non200=" << result->non200);
  CHECK(result->failures() == 0);
  auto const now = live_children(m.pid());
  CHECK(now.size() == 2);
  for (int pid : now) CHECK(old_workers.count(pid) == 0);
  // Each replacement was started before its predecessor was stopped.
  // Each replacement accepted before the worker it replaced was stopped.
  auto const lines = m.lines();
  auto first_index = [&](std::string const& pattern) {
    std::regex const re(pattern);
    for (std::size_t i = 0; i < lines.size(); ++i)
      if (std::regex_search(lines[i], re)) return static_cast<long>(i);
    return -1L;
  };
  for (int old : old_workers) {
    std::smatch id;
    std::string const died_line = lines[static_cast<std::size_t>(
        first_index("worker_killed id=\\d+ pid=" + std::to_string(old) + " "))];
    REQUIRE(std::regex_search(died_line, id, std::regex("id=(\\d+)")));
    long const died = first_index("worker_killed id=\\d+ pid=" + std::to_string(old) + " ");
    long connected = -1;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].find("worker_connected id=" + id[1].str() + " ") != std::string::npos &&
          lines[i].find("pid=" + std::to_string(old)) == std::string::npos) {
        connected = static_cast<long>(i);
        break;
      }
    }
    CHECK(connected >= 0);
    CHECK(connected < died);
    // Stopped on purpose and already replaced: `stopped`, not removed.
    CHECK(m.count("worker_killed id=\\d+ pid=" + std::to_string(old) +
                  " code=0 signal=0 reason=stopped$") == 1);
    CHECK(m.count("worker_removed id=\\d+ pid=" + std::to_string(old) + "$") == 0);
  }
  CHECK(m.count("cluster-event: worker_connected") == 4);
  CHECK(m.count("cluster-event: rolling_restart_started$") == 1);
  CHECK(m.count("cluster-event: rolling_restart_done replaced=2$") == 1);
}

TEST_CASE("a rolling restart whose new worker cannot start stops, and the old workers serve on") {
  temp_dir dir("rolling-broken");
  fs::path const broken = dir.path() / "broken";
  master_process m("http",
                   {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_BREAK_FILE", broken.string()}});
  int const port = m.port();
  REQUIRE(m.wait_line("cluster-event: ready workers=2") >= 0);
  auto const old_workers = live_children(m.pid());
  REQUIRE(old_workers.size() == 2);
  { std::ofstream(broken) << "throw\n"; }
  m.signal(SIGHUP);
  REQUIRE(m.wait_line("cluster-event: rolling_restart_started$") >= 0);
  REQUIRE(
      m.wait_line(
          R"(cluster: rolling restart stopped: the new worker \d+ died before it accepted \(its error was: broken deploy)",
          20s) >= 0);
  int const failed = std::stoi(m.capture(R"(cluster-event: rolling_restart_failed pid=(\d+))"));
  // The replacement that failed is a crash of a worker that never came up; nothing was stopped.
  CHECK(m.count("worker_killed id=0 pid=" + std::to_string(failed) +
                " code=1 signal=0 reason=crashed") == 1);
  CHECK(m.count("reason=stopped") == 0);
  CHECK(m.count("rolling_restart_done") == 0);
  for (int pid : old_workers) CHECK(alive(pid));
  fs::remove(broken);
  for (int i = 0; i < 4; ++i) {
    std::string const r = http_get(port, "/");
    REQUIRE(r.find("200 OK") != std::string::npos);
    CHECK(old_workers.count(served_by(r)) == 1);
  }
  m.signal(SIGQUIT);
  CHECK(m.wait(15s) == 0);
}

TEST_CASE("a graceful shutdown under load completes every request already accepted") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  load_process load(load_args(port));
  REQUIRE(load.wait_running());
  REQUIRE(load.wait_ok(1000, 10s));
  m.signal(SIGQUIT);
  CHECK(m.wait(20s) == 0);
  auto const result = load.stop();
  REQUIRE(result);
  INFO("lost=" << result->lost << " non200=" << result->non200);
  // Connections the master never accepted are refused or reset once it is gone; but no request
  // sent on an accepted keep-alive connection goes unanswered.
  CHECK(result->lost == 0);
  CHECK(result->non200 == 0);
}

TEST_CASE("a stopping worker answers requests on its idle keep-alive connections, then closes") {
  master_process m("http", {{"WEB_CONCURRENCY", "1"}});
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  std::string const request = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  auto complete = [](std::string const& r) {
    auto const end = r.find("\r\n\r\n");
    return end != std::string::npos && r.find('\n', end + 4) != std::string::npos;
  };
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<client>(port));
    clients.back()->send(request);
    REQUIRE(complete(clients.back()->receive(complete)));
  }
  m.signal(SIGQUIT);
  // The worker reports its open connections once it is stopping.
  REQUIRE(m.wait_line("worker_waiting id=0 pid=\\d+ connections=5") >= 0);
  // The client's next request races with the stop: it must be answered, and told to go.
  for (auto& c : clients) {
    c->send(request);
    std::string const r = c->receive(complete);
    CHECK(r.starts_with("HTTP/1.1 200"));
    CHECK(r.find("Connection: close") != std::string::npos);
    CHECK(c->receive_all(3s).empty());  // then the worker closes it
  }
  CHECK(m.wait(10s) == 0);
}

TEST_CASE("state put in restarting arrives in restart, from master to master") {
  master_process m("handover",
                   {{"WEB_CONCURRENCY", "1"}, {"CLUSTER_TEST_RESTART_THRESHOLD_MS", "0"}});
  REQUIRE(m.port() > 0);
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  m.signal(SIGUSR2);
  int const first = std::stoi(m.capture(serving, 20s));
  std::string const note = "note=from " + std::to_string(m.pid()) + " with 1";
  CHECK(m.wait_line("cluster-event: handover generation=1 " + note + "$", 20s) >= 0);
  CHECK(m.wait(20s) == 0);
  // The successor hands over in turn: the count it received, plus one.
  ::kill(first, SIGUSR2);
  REQUIRE(m.wait_line("starting a new master", 10s, 0) >= 0);
  // 1.5 s here; the bound is generous because on a loaded two-core machine the delayed restart was
  // once seen to come after 20 s (not understood yet: the harness dumps timed lines on failure).
  auto const delayed_at = clock::now();
  REQUIRE(wait_until([&] { return m.successor_pids().size() == 2; }, 60s));
  if (clock::now() - delayed_at > 10s) {
    WARN("the delayed restart came after "
         << std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - delayed_at).count()
         << " ms");
  }
  CHECK(m.wait_line(
            "cluster-event: handover generation=2 note=from " + std::to_string(first) + " with 1$",
            20s) >= 0);
  CHECK(wait_gone(first));
  ::kill(m.successor_pids().back(), SIGQUIT);
  CHECK(wait_gone(m.successor_pids().back()));
}

TEST_CASE("a new build refuses state of a version it cannot read, and still takes over") {
  deployed_copy copy(CLUSTER_TEST_SERVER);
  master_process m(program{{copy.app.string(), "handover"}}, {{"WEB_CONCURRENCY", "1"}});
  REQUIRE(m.port() > 0);
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  copy.deploy(CLUSTER_TEST_SERVER_V2);
  m.signal(SIGUSR2);
  int const next = std::stoi(m.capture(serving, 20s));
  CHECK(m.wait_line("cluster-event: handover none", 20s) >= 0);
  CHECK(m.wait_line(R"(cluster: restart: .*handover probe.*version 1.*version 2)", 5s) >= 0);
  CHECK(m.wait(20s) == 0);
  CHECK(served_by(http_get(m.port(), "/")) != 0);
  ::kill(next, SIGQUIT);
  CHECK(wait_gone(next));
}

TEST_CASE("a restart to a binary that cannot start leaves the old master serving") {
  deployed_copy copy(CLUSTER_TEST_SERVER);
  fs::path const broken = copy.dir / "broken";
  std::map<std::string, std::string> env{{"WEB_CONCURRENCY", "2"},
                                         {"CLUSTER_TEST_RESTART_THRESHOLD_MS", "0"},
                                         {"CLUSTER_TEST_BREAK_FILE", broken.string()},
                                         {"CLUSTER_TEST_TIMEOUT_MS", "2000"}};
  master_process m(program{{copy.app.string(), "http"}}, env);
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  auto const workers = live_children(m.pid());
  load_process load(load_args(port));
  REQUIRE(load.wait_running());

  struct attempt {
    char const* name;
    std::function<void()> prepare;
    char const* reason;
  };
  std::vector<attempt> const attempts{
      {"the new binary exits at once", [&] { copy.deploy_script("exit 3"); },
       "the new master ended with exit code 3 before its workers were ready"},
      {"the new file is not executable",
       [&] { copy.deploy(CLUSTER_TEST_SERVER, fs::perms::owner_read | fs::perms::owner_write); },
       "cannot execute .*: Permission denied"},
      {"the new workers cannot start",
       [&] {
         copy.deploy(CLUSTER_TEST_SERVER);
         std::ofstream(broken) << "throw\n";
       },
       "the new master ended with exit code 1 before its workers were ready"},
      {"the new workers never accept",
       [&] {
         copy.deploy(CLUSTER_TEST_SERVER);
         std::ofstream(broken) << "hang\n";
       },
       R"(the new master did not have every worker accepting within timeout \(2000 ms\))"},
  };
  for (auto const& a : attempts) {
    INFO(a.name);
    a.prepare();
    std::size_t const from = m.lines().size();
    m.signal(SIGUSR2);
    REQUIRE(m.wait_line("starting a new master", 10s, from) >= 0);
    int const successor = m.successor_pids().back();
    bool const reported = m.wait_line(std::string("cluster: restart failed: ") + a.reason +
                                          "; this master keeps serving",
                                      30s, from) >= 0;
    if (!reported) {
      for (auto const& l : m.lines()) std::fprintf(stderr, "  | %s\n", l.c_str());
    }
    CHECK(reported);
    // The plugins heard of it as an event, not only on stderr.
    CHECK(m.wait_line("cluster-event: restart_failed$", 10s, from) >= 0);
    // The would-be successor and its workers are gone; the old master never stopped serving.
    // It goes within a second. On a loaded virtual machine its killed workers were seen to
    // stay for over 40 s in the kernel, in exit(), waiting for a lock of a shared library's
    // memory map: the wait goes on while one of them sleeps there (see held_up_by_kernel).
    auto const asked = clock::now();
    bool const gone = wait_until([&] { return !alive(successor); }, 10s);
    if (clock::now() - asked > 5s) {
      WARN("the failed successor "
           << successor << " took "
           << std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - asked).count()
           << " ms to exit");
    }
    if (!gone) {
      // Where it sleeps (its system call and kernel stack), and what became of its workers.
      std::fprintf(stderr, "successor %d state %c\n%s\n%s", successor, process_state(successor),
                   cluster::os::proc_report(successor).c_str(),
                   read_small_file("/proc/" + std::to_string(successor) + "/status").c_str());
      for (auto const& [child, state] : children_of(successor)) {
        std::fprintf(stderr, "its child %d state %c\n%s\n", child, state,
                     cluster::os::proc_report(child).c_str());
      }
      for (auto const& l : m.lines()) std::fprintf(stderr, "  | %s\n", l.c_str());
    }
    CHECK(gone);
    CHECK(alive(m.pid()));
    CHECK(live_children(m.pid()).size() >= 2);
    auto const progress = load.progress();
    REQUIRE(progress);
    CHECK(progress->failures() == 0);
    std::error_code ec;
    fs::remove(broken, ec);
  }
  CHECK(live_children(m.pid()) == workers);
  auto const result = load.stop();
  REQUIRE(result);
  CHECK(result->failures() == 0);
}

TEST_CASE("ten SIGUSR2 in a row give one restart; restarts too close together are delayed") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"},
                            {"CLUSTER_TEST_RESTART_THRESHOLD_MS", "5000"},
                            {"CLUSTER_TEST_RESTART_TIMEOUT_MS", "1500"}});
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  auto const fds_before = descriptor_kinds(m.pid());
  load_process load(load_args(port));
  REQUIRE(load.wait_running());

  for (int i = 0; i < 10; ++i) m.signal(SIGUSR2);
  int const first = std::stoi(m.capture(serving, 20s));
  CHECK(m.wait(20s) == 0);
  CHECK(m.successor_pids().size() == 1);

  // The successor restarted less than `restart threshold` ago: the first request is delayed by
  // `restart timeout`, and the nine others join it.
  REQUIRE(m.wait_line("cluster-event: restart$", 10s) >= 0);
  std::size_t const from = m.lines().size();
  for (int i = 0; i < 10; ++i) ::kill(first, SIGUSR2);
  REQUIRE(m.wait_line("cluster: cyclic restart: the last restart was \\d+ ms ago \\(restart "
                      "threshold 5000 ms\\); restarting in 1500 ms",
                      10s, from) >= 0);
  CHECK(m.wait_line("cluster-event: cyclic_restart delay=1500", 5s, from) >= 0);
  // 1.5 s here; the bound is generous because on a loaded two-core machine the delayed restart was
  // once seen to come after 20 s (not understood yet: the harness dumps timed lines on failure).
  auto const delayed_at = clock::now();
  REQUIRE(wait_until([&] { return m.successor_pids().size() == 2; }, 60s));
  if (clock::now() - delayed_at > 10s) {
    WARN("the delayed restart came after "
         << std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - delayed_at).count()
         << " ms");
  }
  int const second = m.successor_pids().back();
  CHECK(m.wait_line(std::string(R"(cluster: restart: new master )") + std::to_string(second) +
                        " is serving",
                    20s, from) >= 0);
  CHECK(wait_gone(first));
  REQUIRE(m.wait_line("cluster-event: restart$", 10s, from) >= 0);
  CHECK(m.count("cluster: cyclic restart") == 1);
  CHECK(m.successor_pids().size() == 2);

  // Exactly two workers, no zombie, and nothing more held open than the first master held.
  REQUIRE(wait_until([&] { return live_children(second).size() == 2; }));
  for (auto const& [pid, state] : children_of(second)) CHECK(state != 'Z');
  CHECK(descriptor_kinds(second) == fds_before);
  auto const result = load.stop();
  REQUIRE(result);
  CHECK(result->failures() == 0);
  ::kill(second, SIGQUIT);
  CHECK(wait_gone(second));
}
