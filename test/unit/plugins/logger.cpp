// SPDX-License-Identifier: BSL-1.0
// The logger plugin in one process: its checks, its lines, its buffering and its reopen.
#include <cluster/plugins/logger.hpp>

#include "../../support/fake_master.hpp"
#include "../../support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using cluster::testing::temp_dir;

using fake_master = cluster::testing::fake_master;

std::vector<std::string> lines_of(fs::path const& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

cluster::events::client_request request(std::string_view target, unsigned status = 200) {
  return {3, "GET", target, 11, status, 12, "127.0.0.1:51234", std::chrono::microseconds(143)};
}

}  // namespace

static_assert(cluster::plugin<cluster::logger>);
static_assert(std::is_copy_constructible_v<cluster::logger>);

TEST_CASE("access lines are buffered until a tick, in Common Log Format") {
  temp_dir dir("logger-unit");
  fake_master m;
  cluster::logger log{dir.path()};
  log.on(cluster::events::start{}, m);
  cluster::this_worker self(3, 4242, "test", nullptr);
  log.on(request("/a?b=c"), self);
  log.on(cluster::events::client_request{3, "GET", "/x", 10, 404, 0, "[::1]:8080",
                                         std::chrono::microseconds(7)},
         self);
  log.on(request("/odd\"quote\\ \x01\xC3\xA9"), self);
  auto const access = dir.path() / "workers.access.log";
  CHECK(lines_of(access).empty());  // no system call per request
  log.on(cluster::events::tick{3}, self);
  auto const lines = lines_of(access);
  REQUIRE(lines.size() == 3);
  std::regex const re(
      R"(^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /a\?b=c HTTP/1\.1" 200 12 worker=3 us=143$)");
  CHECK(std::regex_match(lines[0], re));
  CHECK(lines[1].starts_with("::1 - - ["));
  CHECK(lines[1].ends_with("] \"GET /x HTTP/1.0\" 404 0 worker=3 us=7"));
  CHECK(lines[2].find("\"GET /odd\\x22quote\\x5C\\x20\\x01\\xC3\\xA9 HTTP/1.1\"") !=
        std::string::npos);
}

TEST_CASE("a full buffer is written at once, in whole lines") {
  temp_dir dir("logger-unit");
  fake_master m;
  cluster::logger log{dir.path()};
  log.on(cluster::events::start{}, m);
  cluster::this_worker self(3, 4242, "test", nullptr);
  auto const access = dir.path() / "workers.access.log";
  std::size_t sent = 0;
  while (fs::file_size(access) == 0 && sent < 1000) {
    log.on(request("/page/" + std::to_string(sent)), self);
    ++sent;
  }
  CHECK(sent < 1000);
  auto const size = fs::file_size(access);
  CHECK(size >= cluster::logger::flush_size);
  CHECK(lines_of(access).size() == sent);
  log.on(cluster::events::worker_exit{3, 0}, self);
  CHECK(fs::file_size(access) == size);  // nothing was left
}

TEST_CASE("master.log has a time stamp, the level, the text, and honours the level") {
  temp_dir dir("logger-unit");
  fake_master m;
  cluster::logger log{dir.path(), cluster::log_level::warning};
  log.on(cluster::events::start{}, m);
  log.on(cluster::events::worker_spawned{0, 101}, m);
  log.on(cluster::events::worker_killed{0, 101, 0, 9, cluster::events::exit_reason::crashed}, m);
  log.on(cluster::events::kill{15}, m);
  log.on(cluster::events::worker_killed{1, 102, 0, 15, cluster::events::exit_reason::killed},
         m);  // the master's own SIGTERM: info, below the level
  log.on(cluster::events::worker_exception{1, 102, "boom\nsecond line"}, m);
  auto const lines = lines_of(dir.path() / "master.log");
  REQUIRE(lines.size() == 2);
  std::regex const stamp(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z )");
  CHECK(std::regex_search(lines[0], stamp));
  CHECK(lines[0].ends_with(" warning worker 0 (pid 101) crashed: killed by SIGKILL"));
  CHECK(lines[1].ends_with(" error worker 1 (pid 102) exception: boom second line"));
  auto const errors = lines_of(dir.path() / "workers.error.log");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].ends_with(" error worker 1 (pid 102) exception: boom second line"));
}

TEST_CASE("reopen: buffered lines go to the old file, later ones to the new file") {
  // One process plays both parts here, and its descriptors are shared by them: the worker's
  // reopen is tested first, then the master's.
  temp_dir dir("logger-unit");
  fake_master m;
  cluster::logger log{dir.path()};
  log.on(cluster::events::start{}, m);
  cluster::this_worker self(3, 4242, "test", nullptr);
  auto const access = dir.path() / "workers.access.log";
  log.on(request("/before"), self);
  fs::rename(access, dir.path() / "workers.access.log.1");
  log.on(cluster::events::reopen{}, self);
  CHECK(fs::exists(access));
  log.on(request("/after"), self);
  log.on(cluster::events::tick{3}, self);
  auto const old_lines = lines_of(dir.path() / "workers.access.log.1");
  auto const new_lines = lines_of(access);
  REQUIRE(old_lines.size() == 1);
  REQUIRE(new_lines.size() == 1);
  CHECK(old_lines[0].find("/before") != std::string::npos);
  CHECK(new_lines[0].find("/after") != std::string::npos);

  for (auto const* name : {"master.log", "workers.access.log", "workers.error.log"})
    fs::rename(dir.path() / name, dir.path() / (std::string(name) + ".2"));
  log.on(cluster::events::reopen{}, m);
  CHECK(fs::exists(access));
  CHECK(fs::exists(dir.path() / "workers.error.log"));
  auto const master = lines_of(dir.path() / "master.log");
  REQUIRE(master.size() == 1);
  CHECK(master[0].ends_with(" info log files reopened"));
}

TEST_CASE("start-up errors name the path and the fix") {
  temp_dir dir("logger-unit");
  fake_master m;
  auto const error_of = [&](fs::path const& p) -> std::string {
    cluster::logger log{p};
    try {
      log.on(cluster::events::start{}, m);
    } catch (cluster::startup_error const& e) {
      return e.what();
    }
    return "";
  };
  auto const missing = dir.path() / "missing";
  CHECK(error_of(missing) == "cluster: logger: the log directory " + missing.string() +
                                 " does not exist; create it (mkdir -p " + missing.string() +
                                 ") or pass an existing one to cluster::logger");
  CHECK(error_of("") ==
        "cluster: logger: the log directory is empty; pass one, e.g. cluster::logger{\"logs\"}");
  std::ofstream(dir.path() / "file") << "x";
  CHECK(error_of(dir.path() / "file")
            .ends_with(" is not a directory; pass a directory to "
                       "cluster::logger (the log files are created in "
                       "it)"));
  CHECK(error_of(dir.path() / "file" / "below")
            .starts_with("cluster: logger: cannot use the log directory "));
  fs::create_directories(dir.path() / "d" / "workers.error.log");
  CHECK(error_of(dir.path() / "d") == "cluster: logger: the log file " +
                                          (dir.path() / "d" / "workers.error.log").string() +
                                          " is a directory; remove or rename it");
  CHECK_FALSE(fs::exists(missing));
}
