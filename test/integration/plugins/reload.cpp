// SPDX-License-Identifier: BSL-1.0
// cluster::reload against real masters: a new build renamed over the executable, changed files,
// bursts, the logger's own writes, directories made later, broken and half-written builds.
#include "../../support/temp_dir.hpp"
#include "../support/harness.hpp"
#include "../support/load.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace cluster::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// A working directory holding a copy of the server as `server`, with `config` and `logs`.
struct app_dir {
  temp_dir dir{"cluster-reload"};
  temp_dir builds{"cluster-reload-builds"};  // where new builds are written, outside the watch
  fs::path server = dir.path() / "server";
  app_dir() {
    fs::copy_file(CLUSTER_PLUGIN_SERVER, server);
    fs::create_directory(dir.path() / "config");
    fs::create_directory(dir.path() / "logs");
    std::ofstream(dir.path() / "config" / "app.json") << "{}\n";
  }
  [[nodiscard]] std::map<std::string, std::string> env(std::string workers = "2") const {
    return {{"CLUSTER_TEST_WORKDIR", dir.path().string()}, {"WEB_CONCURRENCY", std::move(workers)}};
  }
  /// Writes `from` beside the watched tree, then renames it over the server: a deploy.
  void deploy(fs::path const& from) const {
    fs::path const staged = builds.path() / "server";
    fs::copy_file(from, staged, fs::copy_options::overwrite_existing);
    fs::rename(staged, server);
  }
};

program app(app_dir const& a) { return program{{a.server.string()}}; }

std::vector<std::string> keep_alive_load(int port) {
  return {"--port", std::to_string(port), "--connections", "20", "--max-seconds", "60"};
}

}  // namespace

TEST_CASE("a changed file replaces every worker under load, with no failed request") {
  app_dir a;
  master_process m(app(a), a.env());
  int const port = m.port();
  REQUIRE(m.wait_line("^cluster-event: ready") >= 0);
  // The watch is the master's alone: no worker holds an inotify descriptor.
  for (unsigned id : {0U, 1U}) {
    int const pid = m.worker_pid(id);
    REQUIRE(pid > 0);
    for (auto const& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
      std::error_code ec;
      CHECK(fs::read_symlink(fd.path(), ec).string() != "anon_inode:inotify");
    }
  }
  bool master_watches = false;
  for (auto const& fd : fs::directory_iterator("/proc/" + std::to_string(m.pid()) + "/fd")) {
    std::error_code ec;
    master_watches = master_watches || fs::read_symlink(fd.path(), ec) == "anon_inode:inotify";
  }
  CHECK(master_watches);  // the master does: what the workers were checked for exists
  load_process load(keep_alive_load(port));
  REQUIRE(load.wait_running());
  std::ofstream(a.dir.path() / "config" / "app.json") << "{\"changed\": true}\n";
  REQUIRE(m.wait_line(R"(^cluster: reload: .*/config/app\.json changed; restarting the workers$)",
                      10s) >= 0);
  REQUIRE(m.wait_line("rolling_restart_done", 20s) >= 0);
  CHECK(m.count(R"(^cluster-event: reload path=.*/config/app\.json changes=1 new_build=false$)") ==
        1);
  auto const result = load.stop();
  REQUIRE(result);
  CHECK(result->failures() == 0);
  CHECK(result->ok > 100);
}

TEST_CASE("fifty writes within a second are one reload, and the logger's own writes none") {
  app_dir a;
  master_process m(app(a), a.env());
  REQUIRE(m.wait_line("^cluster-event: ready") >= 0);
  // Appended, not rewritten: ext4 flushes a file truncated and written again when it is closed,
  // which can take most of a second while the disk is busy, and stretch the fifty writes past
  // the quiet period. Each append is a change all the same.
  for (int i = 0; i < 50; ++i) {
    std::ofstream(a.dir.path() / "config" / "app.json", std::ios::app) << "{\"n\": " << i << "}\n";
    std::this_thread::sleep_for(20ms);
  }
  // One reload covering the fifty: nothing is left over for a second one.
  REQUIRE(
      m.wait_line(R"(^cluster: reload: .*/config/app\.json changed \(and 49 more\); restarting )"
                  R"(the workers$)",
                  10s) >= 0);
  int const done = m.wait_line("rolling_restart_done", 20s);
  REQUIRE(done >= 0);
  // The roll made the logger write into logs/, inside the watched directory. Had those writes
  // counted, they would lead the next reload; the next one is this file's alone.
  std::ifstream log(a.dir.path() / "logs" / "master.log");
  std::string const logged((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(logged.find("/config/app.json changed (and 49 more); restarting the workers") !=
        std::string::npos);
  std::ofstream(a.dir.path() / "config" / "other.json") << "{}\n";
  REQUIRE(m.wait_line(R"(^cluster: reload: .*/config/other\.json changed; restarting the workers$)",
                      10s, static_cast<std::size_t>(done)) >= 0);
  CHECK(m.count("^cluster: reload: ") == 2);
}

TEST_CASE("a directory made after the start is watched; editor artefacts are not") {
  app_dir a;
  master_process m(app(a), a.env());
  REQUIRE(m.wait_line("^cluster-event: ready") >= 0);
  fs::create_directories(a.dir.path() / "config" / "sites");
  std::ofstream(a.dir.path() / "config" / ".app.json.swp") << "swap";
  std::ofstream(a.dir.path() / "config" / "app.json~") << "backup";
  std::ofstream(a.dir.path() / "config" / "sites" / "shop.json") << "{}\n";
  // The file may be seen twice, by the new directory's scan and by its own event: one reload.
  REQUIRE(m.wait_line(R"(^cluster: reload: .*/config/sites/shop\.json changed( \(and 1 more\))?; )"
                      R"(restarting the workers$)",
                      10s) >= 0);
  CHECK(m.count("^cluster: reload: ") == 1);
}

TEST_CASE("a new build renamed over the executable serves under load, with no failed request") {
  app_dir a;
  master_process m(app(a), a.env());
  int const port = m.port();
  REQUIRE(m.wait_line("^cluster-event: ready") >= 0);
  CHECK(http_get(port, "/").find("build=1") != std::string::npos);
  load_process load(keep_alive_load(port));
  REQUIRE(load.wait_running());
  a.deploy(CLUSTER_PLUGIN_SERVER_V2);
  REQUIRE(
      m.wait_line(R"(^cluster: reload: .*/server changed; checking the new build, then restarting )"
                  R"(the master onto it$)",
                  10s) >= 0);
  REQUIRE(m.wait_line(R"(^cluster: reload: the new build passed its check; restarting onto it$)",
                      20s) >= 0);
  REQUIRE(m.wait_line(R"(^cluster: restart: new master \d+ is serving)", 30s) >= 0);
  bool const new_build =
      wait_until([&] { return http_get(port, "/").find("build=2") != std::string::npos; }, 10s);
  CHECK(new_build);
  // The new master watches in turn (from its own `ready`, before the old master left): the first
  // build deployed again is picked up too.
  REQUIRE(m.wait_line("^cluster-event: restart$", 20s) >= 0);
  a.deploy(CLUSTER_PLUGIN_SERVER);
  bool const back =
      wait_until([&] { return http_get(port, "/").find("build=1") != std::string::npos; }, 30s);
  auto const result = load.stop();
  CHECK(back);
  REQUIRE(result);
  CHECK(result->failures() == 0);
  CHECK(result->ok > 100);
}

TEST_CASE("a broken build, or one still being written, leaves the old one serving") {
  app_dir a;
  master_process m(app(a), a.env());
  int const port = m.port();
  REQUIRE(m.wait_line("^cluster-event: ready") >= 0);
  // A build that cannot start: its check fails, with its reason, and nothing restarts.
  fs::path const broken = a.builds.path() / "broken";
  std::ofstream(broken) << "#!/bin/sh\necho 'cluster: this build is broken' >&2\nexit 1\n";
  fs::permissions(broken, fs::perms::owner_all);
  a.deploy(broken);
  REQUIRE(m.wait_line(R"(^cluster: reload: the build at .*/server failed its check \(status 1\): )"
                      R"(cluster: this build is broken; this master keeps serving$)",
                      20s) >= 0);
  CHECK(http_get(port, "/").find("build=1") != std::string::npos);
  CHECK(m.count("restarting onto it") == 0);
  // A build written in place, slowly: its removal and its first half are no change...
  fs::remove(a.server);
  std::ifstream in(CLUSTER_PLUGIN_SERVER_V2, std::ios::binary);
  std::string const bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int const fd = ::open(a.server.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
  REQUIRE(fd >= 0);
  std::size_t const half = bytes.size() / 2;
  REQUIRE(::write(fd, bytes.data(), half) == static_cast<ssize_t>(half));
  // (a change to a watched file meanwhile is reloaded on its own: the half-written build is not
  // part of it)
  std::ofstream(a.dir.path() / "config" / "app.json") << "{\"during\": true}\n";
  int const during = m.wait_line(R"(^cluster: reload: .*/config/app\.json changed; restarting )"
                                 R"(the workers$)",
                                 10s);
  REQUIRE(during >= 0);
  REQUIRE(m.wait_line("rolling_restart_done", 20s, static_cast<std::size_t>(during)) >= 0);
  CHECK(m.count("checking the new build") == 1);  // only the broken one's
  // ...and once complete, it is checked and served.
  REQUIRE(::write(fd, bytes.data() + half, bytes.size() - half) ==
          static_cast<ssize_t>(bytes.size() - half));
  ::close(fd);
  REQUIRE(m.wait_line(R"(^cluster: reload: the new build passed its check; restarting onto it$)",
                      20s) >= 0);
  CHECK(wait_until([&] { return http_get(port, "/").find("build=2") != std::string::npos; }, 30s));
}

TEST_CASE("a path that cannot be watched is one error line at start-up") {
  app_dir a;
  auto env = a.env();
  env["CLUSTER_TEST_RELOAD_EXTRA"] = "/no/such/directory/app.json";
  master_process m(app(a), env);
  REQUIRE(m.wait(10s) == 1);
  CHECK(m.wait_line("^cluster: reload: cannot watch /no/such/directory/app\\.json: neither it nor "
                    "the directory /no/such/directory exists$",
                    1s) >= 0);
  CHECK(m.count("worker_spawned") == 0);
  CHECK(m.count("listening on") == 0);
}
