// SPDX-License-Identifier: BSL-1.0
// Running as a container's init: the master as PID 1 of its own PID namespace, and the graceful
// SIGTERM of container platforms.
#include "support/harness.hpp"
#include "support/load.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

using namespace cluster::testing;
namespace fs = std::filesystem;

namespace {

/// Reads `/proc/PID/<file>` whole.
std::string proc_file(int pid, char const* file) {
  return read_small_file("/proc/" + std::to_string(pid) + "/" + file);
}

/// The value of `key:` in /proc/PID/status.
std::string status_field(int pid, std::string const& key) {
  std::string const text = proc_file(pid, "status");
  auto const at = text.find("\n" + key + ":");
  if (at == std::string::npos) return {};
  auto const start = text.find_first_not_of(" \t", at + key.size() + 2);
  if (start == std::string::npos) return {};
  return text.substr(start, text.find('\n', start) - start);
}

/// Pids (as this test sees them) of the processes whose parent is `parent`.
std::set<int> children_of(int parent) {
  std::set<int> out;
  for (auto const& entry : fs::directory_iterator("/proc")) {
    std::string const name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    int const pid = std::stoi(name);
    if (status_field(pid, "PPid") == std::to_string(parent)) out.insert(pid);
  }
  return out;
}

/// The process that is `ns_pid` inside the PID namespace of `init` (a pid as the test sees it),
/// zombie or not; 0 when there is none.
int find_in_namespace(int init, int ns_pid) {
  std::error_code ec;
  auto const ns = fs::read_symlink("/proc/" + std::to_string(init) + "/ns/pid", ec);
  for (auto const& entry : fs::directory_iterator("/proc")) {
    std::string const name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (fs::read_symlink(entry.path() / "ns" / "pid", ec) != ns || ec) continue;
    // A process can end between the listing and this read: its status is then empty.
    std::string const nspid = status_field(std::stoi(name), "NSpid");
    if (nspid.empty()) continue;
    auto const last = nspid.find_last_of(" \t");
    if (std::stoi(last == std::string::npos ? nspid : nspid.substr(last + 1)) == ns_pid)
      return std::stoi(name);
  }
  return 0;
}

/// A master as PID 1 of a new PID namespace (`unshare --pid --fork`), as in a container. Its
/// event lines are off: the pids they carry are the namespace's, which mean other processes
/// out here.
struct init_master {
  master_process process;
  int pid = 0;  ///< the master, as the test sees it

  init_master()
      : process(program{{"/usr/bin/unshare", "--pid", "--fork", "--kill-child", CLUSTER_TEST_SERVER,
                         "http"}},
                {{"CLUSTER_TEST_EVENTS", "0"}, {"WEB_CONCURRENCY", "2"}}) {
    if (process.port() <= 0) return;
    wait_until([&] { return children_of(process.pid()).size() == 1; });
    auto const kids = children_of(process.pid());
    if (kids.size() == 1) pid = *kids.begin();
  }
  [[nodiscard]] int port() { return process.port(); }
};

}  // namespace

TEST_CASE("as PID 1 the master reaps orphans re-parented to it") {
  init_master m;
  REQUIRE(m.pid > 0);
  REQUIRE(status_field(m.pid, "NSpid").ends_with("\t1"));
  REQUIRE(wait_until([&] { return children_of(m.pid).size() == 2; }));
  auto const workers = children_of(m.pid);

  for (int round = 0; round < 3; ++round) {
    std::string const body = http_get(m.port(), "/orphan");
    std::smatch found;
    REQUIRE(std::regex_search(body, found, std::regex(R"(orphan=(\d+))")));
    int const orphan = std::stoi(found[1].str());
    REQUIRE(orphan > 1);
    // It exits 100 ms after it was orphaned; as a zombie it would stay in /proc for good.
    CHECK(wait_until([&] { return find_in_namespace(m.pid, orphan) == 0; }, 5s));
  }
  CHECK(children_of(m.pid) == workers);
  for (int pid : children_of(m.pid)) CHECK(status_field(pid, "State").front() != 'Z');
}

TEST_CASE("as PID 1 a master restart is refused, and SIGHUP still restarts the workers") {
  init_master m;
  REQUIRE(m.pid > 0);
  REQUIRE(wait_until([&] { return children_of(m.pid).size() == 2; }));
  auto const workers = children_of(m.pid);
  ::kill(m.pid, SIGUSR2);
  CHECK(m.process.wait_line("cluster: restart refused: this master is PID 1") >= 0);
  ::kill(m.pid, SIGHUP);
  REQUIRE(m.process.wait_line(R"(cluster: rolling restart: every worker replaced \(2\))", 20s) >=
          0);
  REQUIRE(wait_until([&] {
    auto const now = children_of(m.pid);
    if (now.size() != 2) return false;
    for (int pid : now) {
      if (workers.count(pid)) return false;
    }
    return true;
  }));
  ::kill(m.pid, SIGQUIT);
  CHECK(m.process.wait(10s) == 0);
}

TEST_CASE("with container signals, SIGTERM under load stops gracefully and loses nothing") {
  master_process m("container", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  load_process load({"--port", std::to_string(port), "--connections", "50", "--max-seconds", "60"});
  REQUIRE(load.wait_running());
  REQUIRE(load.wait_ok(1000, 10s));
  m.signal(SIGTERM);
  REQUIRE(m.wait_line("closing graceful=1") >= 0);
  CHECK(m.wait(20s) == 0);
  auto const result = load.stop();
  REQUIRE(result);
  CHECK(result->lost == 0);
  CHECK(result->non200 == 0);
}
