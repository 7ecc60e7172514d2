// SPDX-License-Identifier: BSL-1.0
// cluster::pidfiles: master.pid and worker.N.pid follow the processes, conflicts stop start-up,
// stale files are replaced, and a master restart hands the files to the new master.
#include "../../support/temp_dir.hpp"
#include "../support/harness.hpp"
#include "../support/load.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

using namespace cluster::testing;
namespace fs = std::filesystem;

namespace {

program pidfiles_server() { return program{{CLUSTER_PLUGIN_SERVER}}; }

/// A working directory with an empty `pids` directory in it.
struct workdir {
  temp_dir dir{"cluster-pidfiles"};
  fs::path pids = dir.path() / "pids";
  workdir() { fs::create_directory(pids); }
  [[nodiscard]] std::map<std::string, std::string> env(std::string workers = "2") const {
    return {{"CLUSTER_TEST_WORKDIR", dir.path().string()}, {"WEB_CONCURRENCY", std::move(workers)}};
  }
};

/// The pid in a pid file, or 0 (missing, or not "<pid>\n").
int pid_in(fs::path const& file) {
  std::string const text = read_small_file(file.string());
  if (text.size() < 2 || text.back() != '\n') return 0;
  if (text.find_first_not_of("0123456789") != text.size() - 1) return 0;
  return std::stoi(text);
}

/// The names of the files in `dir`.
std::set<std::string> files_in(fs::path const& dir) {
  std::set<std::string> out;
  for (auto const& entry : fs::directory_iterator(dir))
    out.insert(entry.path().filename().string());
  return out;
}

/// The parent of `pid`, from /proc/PID/stat, or 0.
int parent_of(int pid) {
  std::string const text = read_small_file("/proc/" + std::to_string(pid) + "/stat");
  auto const close = text.rfind(')');
  if (close == std::string::npos || close + 4 >= text.size()) return 0;
  return std::atoi(text.c_str() + close + 4);
}

/// A pid that names no process: a child that has exited and been reaped.
int dead_pid() {
  pid_t const child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

void write_file(fs::path const& file, std::string const& text) {
  std::ofstream out(file);
  out << text;
}

}  // namespace

TEST_CASE("pidfiles names the master and each worker, follows replacements, removals, shutdown") {
  workdir w;
  master_process m(pidfiles_server(), w.env("2"));
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  // The default directory is `pids`, in the working directory.
  CHECK(read_small_file((w.pids / "master.pid").string()) == std::to_string(m.pid()) + "\n");
  CHECK(pid_in(w.pids / "worker.0.pid") == m.worker_pid(0));
  CHECK(pid_in(w.pids / "worker.1.pid") == m.worker_pid(1));
  CHECK(parent_of(pid_in(w.pids / "worker.0.pid")) == m.pid());
  // Written through a temporary file that was renamed: none is left.
  CHECK(files_in(w.pids) == std::set<std::string>{"master.pid", "worker.0.pid", "worker.1.pid"});

  // A killed worker is replaced, and its file names the replacement.
  int const first = m.worker_pid(0);
  ::kill(first, SIGKILL);
  REQUIRE(wait_until([&] { return m.worker_pid(0) != first; }));
  int const second = m.worker_pid(0);
  CHECK(wait_until([&] { return pid_in(w.pids / "worker.0.pid") == second; }));

  // SIGTTOU removes the highest worker for good: its file goes, the others stay.
  int const removed = m.worker_pid(1);
  m.signal(SIGTTOU);
  REQUIRE(m.wait_line("worker_removed id=1 pid=" + std::to_string(removed)) >= 0);
  CHECK(wait_until([&] { return !fs::exists(w.pids / "worker.1.pid"); }));
  CHECK(pid_in(w.pids / "worker.0.pid") == second);
  CHECK(pid_in(w.pids / "master.pid") == m.pid());

  // Shutdown removes everything this master wrote.
  m.signal(SIGQUIT);
  CHECK(m.wait(10s) == 0);
  CHECK(files_in(w.pids).empty());
}

TEST_CASE("pidfiles refuses to start without its directory, before any worker") {
  workdir w;
  SECTION("missing") {
    fs::remove(w.pids);
    master_process m(pidfiles_server(), w.env());
    CHECK(m.wait(10s) == 1);
    REQUIRE(m.lines().size() == 1);
    CHECK(m.lines()[0] == "cluster: pidfiles: the directory " + w.pids.string() +
                              " does not exist; create it, or give cluster::pidfiles(\"dir\") "
                              "another one");
    CHECK_FALSE(fs::exists(w.pids));  // not created silently
  }
  SECTION("empty") {
    auto env = w.env();
    env["CLUSTER_TEST_PIDS"] = "";
    master_process m(pidfiles_server(), env);
    CHECK(m.wait(10s) == 1);
    REQUIRE(m.lines().size() == 1);
    CHECK(m.lines()[0] ==
          "cluster: pidfiles: the pid directory is empty; pass one, e.g. "
          "cluster::pidfiles{\"pids\"}");
    // Nothing is written anywhere: the working directory holds only the empty `pids`.
    CHECK(files_in(w.dir.path()) == std::set<std::string>{"pids"});
    CHECK(files_in(w.pids).empty());
  }
  SECTION("not a directory") {
    fs::path const file = w.dir.path() / "a-file";
    write_file(file, "x\n");
    auto env = w.env();
    env["CLUSTER_TEST_PIDS"] = file.string();
    master_process m(pidfiles_server(), env);
    CHECK(m.wait(10s) == 1);
    REQUIRE(m.lines().size() == 1);
    CHECK(m.lines()[0] == "cluster: pidfiles: " + file.string() +
                              " is not a directory; give cluster::pidfiles(\"dir\") a directory");
  }
}

TEST_CASE("pidfiles replaces a stale master.pid and the worker files of its dead master") {
  workdir w;
  int const gone = dead_pid();
  write_file(w.pids / "master.pid", std::to_string(gone) + "\n");
  write_file(w.pids / "worker.0.pid", std::to_string(dead_pid()) + "\n");
  write_file(w.pids / "worker.7.pid", std::to_string(dead_pid()) + "\n");
  master_process m(pidfiles_server(), w.env("1"));
  CHECK(m.wait_line("^cluster: pidfiles: replacing the stale " + (w.pids / "master.pid").string() +
                    " and 2 worker files \\(pid " + std::to_string(gone) + " is not running\\)$") >=
        0);
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  CHECK(pid_in(w.pids / "master.pid") == m.pid());
  CHECK(pid_in(w.pids / "worker.0.pid") == m.worker_pid(0));
  CHECK(files_in(w.pids) == std::set<std::string>{"master.pid", "worker.0.pid"});
  m.signal(SIGQUIT);
  CHECK(m.wait(10s) == 0);
  CHECK(files_in(w.pids).empty());
}

TEST_CASE("pidfiles replaces a master.pid whose pid now runs something else") {
  workdir w;
  // This test program is alive, but it is neither a cluster master's executable nor its title.
  write_file(w.pids / "master.pid", std::to_string(::getpid()) + "\n");
  master_process m(pidfiles_server(), w.env("1"));
  CHECK(m.wait_line("^cluster: pidfiles: replacing the stale .*master\\.pid \\(pid " +
                    std::to_string(::getpid()) + " is not a cluster master\\)$") >= 0);
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  CHECK(pid_in(w.pids / "master.pid") == m.pid());
}

TEST_CASE("pidfiles refuses to start a second master on the files of a live one") {
  workdir w;
  master_process first(pidfiles_server(), w.env("2"));
  REQUIRE(first.wait_line("worker_connected id=0") >= 0);
  REQUIRE(first.wait_line("worker_connected id=1") >= 0);
  std::string const master_before = read_small_file((w.pids / "master.pid").string());
  std::string const worker0_before = read_small_file((w.pids / "worker.0.pid").string());
  std::string const worker1_before = read_small_file((w.pids / "worker.1.pid").string());
  REQUIRE(master_before == std::to_string(first.pid()) + "\n");

  master_process second(pidfiles_server(), w.env("2"));
  CHECK(second.wait(10s) == 1);
  REQUIRE(second.lines().size() == 1);
  CHECK(second.lines()[0] == "cluster: pidfiles: another master (pid " +
                                 std::to_string(first.pid()) + ") is running and owns " +
                                 (w.pids / "master.pid").string() +
                                 "; stop it first, or give this one another directory with "
                                 "cluster::pidfiles(\"dir\")");
  CHECK(second.seen_pids().empty());
  // The first master's files are as they were.
  CHECK(read_small_file((w.pids / "master.pid").string()) == master_before);
  CHECK(read_small_file((w.pids / "worker.0.pid").string()) == worker0_before);
  CHECK(read_small_file((w.pids / "worker.1.pid").string()) == worker1_before);
  CHECK(files_in(w.pids) == std::set<std::string>{"master.pid", "worker.0.pid", "worker.1.pid"});
  first.signal(SIGQUIT);
  CHECK(first.wait(10s) == 0);
  CHECK(files_in(w.pids).empty());
}

TEST_CASE("pidfiles hands every file to the new master of a restart (SIGUSR2)") {
  workdir w;
  master_process m(pidfiles_server(), w.env("2"));
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  int const old0 = m.worker_pid(0);
  int const old1 = m.worker_pid(1);
  REQUIRE(pid_in(w.pids / "master.pid") == m.pid());

  m.signal(SIGUSR2);
  std::string const next = m.capture(R"(cluster: restart: new master (\d+) is serving)", 20s);
  REQUIRE_FALSE(next.empty());
  int const successor = std::stoi(next);
  // The old master drains and exits; it must not take the new master's files with it.
  CHECK(m.wait(20s) == 0);
  CHECK(pid_in(w.pids / "master.pid") == successor);
  int const new0 = pid_in(w.pids / "worker.0.pid");
  int const new1 = pid_in(w.pids / "worker.1.pid");
  CHECK(new0 != old0);
  CHECK(new1 != old1);
  CHECK(parent_of(new0) == successor);
  CHECK(parent_of(new1) == successor);
  CHECK(alive(new0));
  CHECK(alive(new1));
  CHECK(files_in(w.pids) == std::set<std::string>{"master.pid", "worker.0.pid", "worker.1.pid"});
  // Still so once the successor knows its predecessor is gone.
  REQUIRE(m.wait_line("cluster-event: restart$", 20s) >= 0);
  CHECK(pid_in(w.pids / "master.pid") == successor);
  CHECK(pid_in(w.pids / "worker.0.pid") == new0);

  // The new master cleans up after itself in turn.
  ::kill(successor, SIGQUIT);
  CHECK(wait_until([&] { return !alive(successor); }, 20s));
  ::waitpid(successor, nullptr, WNOHANG);
  CHECK(wait_until([&] { return files_in(w.pids).empty(); }));
}

TEST_CASE("a pid directory lost after start is reported, and the cluster serves on") {
  workdir w;
  master_process m(pidfiles_server(), w.env("2"));
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  load_process load({"--port", std::to_string(port), "--connections", "8", "--max-seconds", "60"});
  REQUIRE(load.wait_running());

  // Root writes through any permission bits: the directory is made unusable by being replaced
  // with a file.
  fs::remove_all(w.pids);
  write_file(w.pids, "not a directory\n");
  m.signal(SIGTTIN);
  REQUIRE(m.wait_line("^cluster: pidfiles: cannot write " + w.pids.string() +
                      "/worker\\.2\\.pid: Not a directory$") >= 0);
  REQUIRE(m.wait_line("worker_connected id=2") >= 0);
  auto const during = load.progress();
  REQUIRE(during);
  REQUIRE(load.wait_ok(during->ok + 500, 20s));

  // Given its directory back, the next worker's file is written again.
  fs::remove(w.pids);
  fs::create_directory(w.pids);
  m.signal(SIGTTIN);
  REQUIRE(m.wait_line("worker_connected id=3") >= 0);
  REQUIRE(wait_until([&] { return pid_in(w.pids / "worker.3.pid") == m.worker_pid(3); }));
  auto const result = load.stop();
  REQUIRE(result);
  CHECK(result->failures() == 0);
  CHECK(m.count("closing") == 0);
}
