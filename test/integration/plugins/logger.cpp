// SPDX-License-Identifier: BSL-1.0
// The logger plugin: its three files, level filtering, access lines, worker stderr, rotation
// under load without a lost or torn line, the documented logrotate recipe, and its start-up
// errors.
#include "../../support/temp_dir.hpp"
#include "../support/harness.hpp"
#include "../support/load.hpp"
#include "../support/tool.hpp"

#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

using namespace cluster::testing;
namespace fs = std::filesystem;

namespace {

/// One parsed line of `workers.access.log`.
struct access_line {
  std::string host;
  std::string method;
  std::string path;
  std::string version;
  int status = 0;
  std::size_t bytes = 0;
  unsigned worker = 0;
  long us = 0;
};

std::regex const access_re(
    R"re(^(\S+) - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "(\S+) (\S+) (HTTP/\d\.\d)" (\d{3}) (\d+) worker=(\d+) us=(\d+)$)re");
std::regex const master_re(
    R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z (debug|info|warning|error) (.+)$)");

/// The whole of `path`, or "" when it does not exist.
std::string read_whole(fs::path const& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Every complete line of `path` (none if it does not exist); `torn` counts a last line without
/// its newline.
std::vector<std::string> lines_of(fs::path const& path, std::size_t* torn = nullptr) {
  std::string const text = read_whole(path);
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  if (torn) *torn += start < text.size() ? 1 : 0;
  return out;
}

std::optional<access_line> parse_access(std::string const& line) {
  std::smatch m;
  if (!std::regex_match(line, m, access_re)) return std::nullopt;
  return access_line{m[1].str(),
                     m[2].str(),
                     m[3].str(),
                     m[4].str(),
                     std::stoi(m[5].str()),
                     std::stoul(m[6].str()),
                     static_cast<unsigned>(std::stoul(m[7].str())),
                     std::stol(m[8].str())};
}

/// True when some line of `path` contains `text`.
bool file_has(fs::path const& path, std::string const& text) {
  for (auto const& l : lines_of(path)) {
    if (l.find(text) != std::string::npos) return true;
  }
  return false;
}

/// A master of the logger test program, logging to `dir` at `level`.
master_process start(fs::path const& dir, std::string const& level = "info") {
  return master_process(program{{CLUSTER_PLUGIN_SERVER}},
                        {{"LOGGER_DIR", dir.string()}, {"LOGGER_LEVEL", level}});
}

std::uintmax_t size_of(fs::path const& p) {
  std::error_code ec;
  auto const n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

}  // namespace

TEST_CASE("the logger writes its three files and the master's life, deaths included") {
  temp_dir dir("logger");
  fs::path const master_log = dir.path() / "master.log";
  master_process m = start(dir.path());
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  CHECK(fs::is_regular_file(master_log));
  CHECK(fs::is_regular_file(dir.path() / "workers.access.log"));
  CHECK(fs::is_regular_file(dir.path() / "workers.error.log"));

  int const first = m.worker_pid(0);
  REQUIRE(wait_until([&] { return file_has(master_log, "worker 1 connected (pid "); }));
  CHECK(file_has(master_log, "info master " + std::to_string(m.pid()) + " starting (2 workers"));
  CHECK(file_has(master_log, "info listening on 127.0.0.1:" + std::to_string(port)));
  CHECK(file_has(master_log, "info worker 0 spawned (pid " + std::to_string(first) + ")"));

  // A worker killed from outside is a warning, and its replacement is logged.
  ::kill(first, SIGKILL);
  REQUIRE(wait_until([&] {
    return file_has(master_log, "warning worker 0 (pid " + std::to_string(first) +
                                    ") crashed: killed by SIGKILL");
  }));
  REQUIRE(m.wait_line("worker_connected id=0 pid=(?!" + std::to_string(first) + ")") >= 0);
  int const second = m.worker_pid(0);
  REQUIRE(second != first);
  REQUIRE(wait_until([&] {
    return file_has(master_log, "info worker 0 connected (pid " + std::to_string(second) + ")");
  }));

  // A graceful stop: workers leave on purpose (info), then the master says it is done.
  m.signal(SIGQUIT);
  REQUIRE(m.wait(15s) == 0);
  auto const lines = lines_of(master_log);
  CHECK(file_has(master_log, "info closing: graceful shutdown"));
  CHECK(file_has(master_log, "info worker 0 (pid " + std::to_string(second) +
                                 ") stopped by the shutdown: exited with status 0"));
  CHECK(file_has(master_log, "info ready: every worker accepts (2)"));
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back().find("info closed: every worker is gone") != std::string::npos);
  std::size_t warnings = 0;
  for (auto const& l : lines) {
    INFO(l);
    std::smatch mm;
    CHECK(std::regex_match(l, mm, master_re));
    warnings += mm.size() > 1 && mm[1] == "warning" ? 1 : 0;
  }
  CHECK(warnings == 1);  // the SIGKILL, nothing else
}

TEST_CASE("at level warning master.log has the warnings and no info line") {
  temp_dir dir("logger");
  fs::path const master_log = dir.path() / "master.log";
  master_process m = start(dir.path(), "warning");
  REQUIRE(m.port() > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  int const first = m.worker_pid(1);
  ::kill(first, SIGKILL);
  REQUIRE(wait_until([&] {
    return file_has(master_log, "warning worker 1 (pid " + std::to_string(first) + ") crashed");
  }));
  REQUIRE(m.wait_line("worker_connected id=1 pid=(?!" + std::to_string(first) + ")") >= 0);
  m.signal(SIGQUIT);
  REQUIRE(m.wait(15s) == 0);
  auto const lines = lines_of(master_log);
  CHECK(lines.size() == 1);
  for (auto const& l : lines) {
    INFO(l);
    CHECK(std::regex_match(l, master_re));
    CHECK(l.find(" info ") == std::string::npos);
  }
}

TEST_CASE("a hard shutdown names the signal the master sends and the one its workers died of") {
  temp_dir dir("logger");
  fs::path const master_log = dir.path() / "master.log";
  master_process m = start(dir.path());
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  m.signal(SIGTERM);
  REQUIRE(m.wait(15s) == 0);
  CHECK(file_has(master_log, " info sending SIGKILL to every worker"));
  for (unsigned id = 0; id < 2; ++id) {
    CHECK(file_has(master_log, " info worker " + std::to_string(id) + " (pid " +
                                   std::to_string(m.worker_pid(id)) +
                                   ") stopped by the shutdown: killed by SIGKILL"));
  }
}

TEST_CASE("N requests make exactly N well-formed access lines, and worker stderr is kept") {
  temp_dir dir("logger");
  fs::path const access_log = dir.path() / "workers.access.log";
  fs::path const error_log = dir.path() / "workers.error.log";
  master_process m = start(dir.path());
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  std::set<int> const live{m.worker_pid(0), m.worker_pid(1)};

  // path -> (worker that answered, body size, status)
  struct answer {
    unsigned worker;
    std::size_t bytes;
    int status;
  };
  std::map<std::string, answer> sent;
  constexpr int n = 60;
  std::regex const worker_re(R"(pid=(\d+) worker=(\d+)\n$)");
  for (int i = 0; i < n; ++i) {
    std::string const path =
        (i % 10 == 9 ? "/missing/" : "/page/") + std::to_string(i) + "?q=" + std::to_string(i * 7);
    std::string const response = http_get(port, path);
    REQUIRE_FALSE(response.empty());
    auto const body_at = response.find("\r\n\r\n");
    REQUIRE(body_at != std::string::npos);
    std::string const body = response.substr(body_at + 4);
    std::smatch w;
    REQUIRE(std::regex_search(body, w, worker_re));
    CHECK(live.count(std::stoi(w[1].str())) == 1);
    sent[path] = {static_cast<unsigned>(std::stoul(w[2].str())), body.size(),
                  i % 10 == 9 ? 404 : 200};
  }
  // A target with a quote and a space-like byte is escaped, not allowed to break the line.
  REQUIRE_FALSE(http_get(port, "/odd\"quote").empty());

  // The lines are flushed within a tick; stop gracefully, then nothing more may appear.
  REQUIRE(wait_until([&] { return lines_of(access_log).size() >= n + 1; }));
  REQUIRE_FALSE(http_get(port, "/stderr").empty());
  REQUIRE(wait_until([&] { return file_has(error_log, "stderr line from pid="); }));
  m.signal(SIGQUIT);
  REQUIRE(m.wait(15s) == 0);

  std::size_t torn = 0;
  auto const lines = lines_of(access_log, &torn);
  CHECK(torn == 0);
  REQUIRE(lines.size() == n + 2);
  std::set<std::string> seen;
  for (auto const& l : lines) {
    INFO(l);
    auto const a = parse_access(l);
    REQUIRE(a);
    CHECK(a->host == "127.0.0.1");
    CHECK(a->method == "GET");
    CHECK(a->version == "HTTP/1.1");
    CHECK(a->worker <= 1);
    CHECK(a->us >= 0);
    if (a->path == "/odd\\x22quote" || a->path == "/stderr") {
      CHECK(a->status == 200);
      seen.insert(a->path);
      continue;
    }
    auto const it = sent.find(a->path);
    REQUIRE(it != sent.end());
    CHECK(seen.insert(a->path).second);  // each request once
    CHECK(a->worker == it->second.worker);
    CHECK(a->bytes == it->second.bytes);
    CHECK(a->status == it->second.status);
  }
  CHECK(seen.size() == n + 2);

  // The stderr line is in workers.error.log, as the worker wrote it.
  auto const errors = lines_of(error_log);
  bool found = false;
  for (auto const& l : errors) {
    std::smatch w;
    if (std::regex_match(l, w, std::regex(R"(^stderr line from pid=(\d+) worker=(\d)$)"))) {
      found = true;
      CHECK(live.count(std::stoi(w[1].str())) == 1);
    }
  }
  CHECK(found);
}

TEST_CASE("SIGUSR1 under load: rotated files, no access line lost, duplicated or torn") {
  temp_dir dir("logger");
  fs::path const d = dir.path();
  std::vector<std::string> const names{"master.log", "workers.access.log", "workers.error.log"};
  master_process m = start(d);
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);

  load_process load({"--port", std::to_string(port), "--connections", "16", "--path", "/load",
                     "--max-seconds", "90"});
  REQUIRE(load.wait_running());
  REQUIRE(load.wait_ok(300, 20s));

  int stderr_requests = 0;
  for (int round = 1; round <= 2; ++round) {
    std::string const suffix = "." + std::to_string(round);
    // What logrotate does: move the files away, then ask for new ones.
    for (auto const& name : names) fs::rename(d / name, d / (name + suffix));
    m.signal(SIGUSR1);
    for (auto const& name : names) {
      INFO(name);
      REQUIRE(wait_until([&] { return fs::exists(d / name); }));
    }
    REQUIRE(wait_until([&] { return file_has(d / "master.log", "info log files reopened"); }));
    // Both workers write to the new access log (each has reopened), while load goes on. The
    // load's keep-alive connections may all have gone to one worker: a request on a connection
    // of its own now and then (path `/`, counted neither as load nor as stderr) reaches both.
    REQUIRE(wait_until(
        [&] {
          [[maybe_unused]] auto const probe = http_get(port, "/");
          std::set<unsigned> workers;
          for (auto const& l : lines_of(d / "workers.access.log")) {
            if (auto a = parse_access(l)) workers.insert(a->worker);
          }
          return workers.size() == 2;
        },
        10s));
    auto const grown = size_of(d / "workers.access.log");
    REQUIRE(wait_until([&] { return size_of(d / "workers.access.log") > grown; }));
    // And the workers' stderr goes to the new error log.
    for (int i = 0; i < 4; ++i, ++stderr_requests) REQUIRE_FALSE(http_get(port, "/stderr").empty());
    REQUIRE(wait_until([&] { return file_has(d / "workers.error.log", "stderr line from"); }));
  }

  auto const result = load.stop();
  REQUIRE(result);
  m.signal(SIGQUIT);
  REQUIRE(m.wait(20s) == 0);

  std::uint64_t load_lines = 0;
  std::size_t stderr_lines = 0;
  std::size_t torn = 0;
  std::size_t bad = 0;
  for (std::string const suffix : {"", ".1", ".2"}) {
    for (auto const& l : lines_of(d / ("workers.access.log" + suffix), &torn)) {
      auto const a = parse_access(l);
      if (!a) {
        ++bad;
        UNSCOPED_INFO("unparsable: " << l);
        continue;
      }
      load_lines += a->path == "/load" ? 1 : 0;
      stderr_lines += a->path == "/stderr" ? 1 : 0;
    }
    for (auto const& l : lines_of(d / ("master.log" + suffix), &torn)) {
      INFO(l);
      CHECK(std::regex_match(l, master_re));
    }
  }
  INFO("requests=" << result->requests << " ok=" << result->ok << " non200=" << result->non200
                   << " lost=" << result->lost << " failures=" << result->failures());
  CHECK(torn == 0);
  CHECK(bad == 0);
  CHECK(result->ok > 0);
  CHECK(load_lines == result->ok + result->non200);
  CHECK(stderr_lines == static_cast<std::size_t>(stderr_requests));
  // Every rotated file got lines, and the newest ones too.
  CHECK(size_of(d / "workers.access.log.1") > 0);
  CHECK(size_of(d / "workers.access.log.2") > 0);
  CHECK(size_of(d / "workers.access.log") > 0);
  CHECK(file_has(d / "workers.error.log.2", "stderr line from"));
  CHECK(file_has(d / "workers.error.log", "stderr line from"));
  CHECK(file_has(d / "master.log", "info closed: every worker is gone"));
}

namespace {

/// Where Debian's package `logrotate` puts the program (scripts/install-deps installs it).
constexpr char const* logrotate_program = "/usr/sbin/logrotate";

/// The logrotate configuration shown in docs/plugins/logger.md (its code block with a
/// `postrotate` script), read from the page itself so that the page and this test cannot part.
std::string documented_logrotate() {
  std::ifstream page(fs::path(CLUSTER_SOURCE_DIR) / "docs/plugins/logger.md");
  std::string block;
  bool inside = false;
  for (std::string line; std::getline(page, line);) {
    if (line.starts_with("```")) {
      if (inside && block.find("postrotate") != std::string::npos) return block;
      inside = !inside;
      block.clear();
    } else if (inside) {
      block += line + '\n';
    }
  }
  return {};
}

/// `text` with every `from` replaced by `to`; `count` is how many there were.
std::string replace_all(std::string text, std::string const& from, std::string const& to,
                        std::size_t& count) {
  count = 0;
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
    ++count;
  }
  return text;
}

/// The documented recipe for a master logging to `logs` whose pid is in `pid_dir`/master.pid:
/// only the page's two directories, /var/log/app/ and /run/app/, are replaced.
std::string logrotate_recipe(fs::path const& logs, fs::path const& pid_dir) {
  std::string const documented = documented_logrotate();
  INFO("the logrotate recipe of docs/plugins/logger.md:\n" << documented);
  REQUIRE_FALSE(documented.empty());
  std::size_t in_logs = 0;
  std::size_t in_pids = 0;
  std::string recipe = replace_all(documented, "/var/log/app/", logs.string() + "/", in_logs);
  recipe = replace_all(recipe, "/run/app/", pid_dir.string() + "/", in_pids);
  REQUIRE(in_logs > 0);  // the log files rotated
  REQUIRE(in_pids > 0);  // the pid file read
  return recipe;
}

/// What `logrotate --force` made of `recipe`, run with its own state file in `dir`.
tool_outcome run_logrotate(fs::path const& dir, std::string const& recipe) {
  INFO("logrotate is needed at " << logrotate_program << ": run scripts/install-deps");
  REQUIRE(::access(logrotate_program, X_OK) == 0);
  fs::path const conf = dir / "logrotate.conf";
  std::ofstream(conf) << recipe;
  return run_tool(logrotate_program,
                  {"--force", "--state", (dir / "logrotate.state").string(), conf.string()}, {});
}

/// A master of the logger test program logging to `logs`, its pid files in `pids`.
master_process start_with_pidfiles(fs::path const& logs, fs::path const& pids) {
  fs::create_directory(logs);
  fs::create_directory(pids);
  return master_process(program{{CLUSTER_PLUGIN_SERVER}},
                        {{"LOGGER_DIR", logs.string()}, {"LOGGER_PIDS", pids.string()}});
}

}  // namespace

TEST_CASE(
    "the logrotate recipe of docs/plugins/logger.md rotates the files and the master "
    "reopens them") {
  temp_dir dir("logrotate");
  fs::path const logs = dir.path() / "log";
  fs::path const pids = dir.path() / "run";
  master_process m = start_with_pidfiles(logs, pids);
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  REQUIRE(read_whole(pids / "master.pid") == std::to_string(m.pid()) + "\n");
  REQUIRE_FALSE(http_get(port, "/before").empty());
  REQUIRE(wait_until([&] { return file_has(logs / "workers.access.log", "GET /before "); }));

  std::size_t const from = m.lines().size();
  auto const rotated = run_logrotate(dir.path(), logrotate_recipe(logs, pids));
  INFO("logrotate stdout:\n" << rotated.out << "logrotate stderr:\n" << rotated.err);
  CHECK(rotated.status == 0);
  REQUIRE(fs::exists(logs / "master.log.1"));
  CHECK(file_has(logs / "workers.access.log.1", "GET /before "));

  // The signal came: the master wrote its next lines to a new master.log, not the rotated one.
  REQUIRE(m.wait_line("^cluster-event: reopen$", 10s, from) >= 0);
  REQUIRE(wait_until([&] { return file_has(logs / "master.log", "info log files reopened"); }));
  m.signal(SIGTTIN);
  REQUIRE(m.wait_line("worker_connected id=2", 10s, from) >= 0);
  REQUIRE(wait_until([&] { return file_has(logs / "master.log", "info worker 2 connected"); }));
  CHECK_FALSE(file_has(logs / "master.log.1", "log files reopened"));
  CHECK_FALSE(file_has(logs / "master.log.1", "worker 2 "));
  // And the workers, within a quarter of a second, append to a new access log.
  REQUIRE(wait_until([&] {
    REQUIRE_FALSE(http_get(port, "/after").empty());
    return file_has(logs / "workers.access.log", "GET /after ");
  }));

  m.signal(SIGQUIT);
  REQUIRE(m.wait(15s) == 0);
}

TEST_CASE("the logrotate recipe reading a wrong pid file fails, and logrotate says so") {
  temp_dir dir("logrotate");
  fs::path const logs = dir.path() / "log";
  fs::path const pids = dir.path() / "run";
  master_process m = start_with_pidfiles(logs, pids);
  REQUIRE(m.port() > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  REQUIRE(fs::exists(pids / "master.pid"));

  // The mistake: a `pids/` below the directory given to cluster::pidfiles, where no file is.
  auto const rotated = run_logrotate(dir.path(), logrotate_recipe(logs, pids / "pids"));
  INFO("logrotate stdout:\n" << rotated.out << "logrotate stderr:\n" << rotated.err);
  CHECK(rotated.status > 0);
  CHECK(rotated.err.find("postrotate") != std::string::npos);
  // The files were moved, and without the signal the master writes on into the rotated one.
  CHECK(fs::exists(logs / "master.log.1"));
  CHECK_FALSE(fs::exists(logs / "master.log"));
  CHECK(m.count("^cluster-event: reopen$") == 0);

  m.signal(SIGQUIT);
  REQUIRE(m.wait(15s) == 0);
}

TEST_CASE("the logger refuses to start without a usable directory, before any worker") {
  temp_dir dir("logger");
  struct bad_case {
    fs::path path;
    std::string line;
  };
  fs::path const missing = dir.path() / "nope";
  fs::path const file = dir.path() / "a-file";
  std::ofstream(file) << "x\n";
  fs::path const holder = dir.path() / "holder";
  fs::create_directories(holder / "master.log");
  std::vector<bad_case> const cases{
      {missing, "cluster: logger: the log directory " + missing.string() +
                    " does not exist; create it (mkdir -p " + missing.string() +
                    ") or pass an existing one to cluster::logger"},
      {file, "cluster: logger: " + file.string() +
                 " is not a directory; pass a directory to cluster::logger (the log files are "
                 "created in it)"},
      {holder, "cluster: logger: the log file " + (holder / "master.log").string() +
                   " is a directory; remove or rename it"},
  };
  for (auto const& c : cases) {
    INFO(c.path);
    master_process m = start(c.path);
    REQUIRE(m.wait(10s) == 1);
    auto const lines = m.lines();
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] == c.line);
    CHECK(m.seen_pids().empty());
  }
  CHECK_FALSE(fs::exists(missing));  // never created
}

TEST_CASE(
    "a start refused after the pid file was written leaves no file, and master.log says why") {
  listening_socket const held;  // a port another program holds
  REQUIRE(held.port > 0);
  std::string const taken = "127.0.0.1:" + std::to_string(held.port);

  temp_dir dir("logger-refused");
  fs::path const logs = dir.path() / "log";
  fs::path const pids = dir.path() / "run";
  fs::create_directories(logs);
  fs::create_directories(pids);
  auto const env = [&](std::map<std::string, std::string> more) {
    more["CLUSTER_TEST_EVENTS"] = "0";
    more["LOGGER_DIR"] = logs.string();
    more["LOGGER_PIDS"] = pids.string();
    return more;
  };
  // Refused by the stats plugin (after logger and pidfiles started), then by the listener.
  std::vector<std::map<std::string, std::string>> const refusals{
      env({{"LOGGER_METRICS", taken}}),
      env({{"LOGGER_METRICS", "127.0.0.1:0"}, {"PORT", std::to_string(held.port)}}),
  };
  for (auto const& e : refusals) {
    master_process m(program{{CLUSTER_PLUGIN_SERVER}}, e);
    REQUIRE(m.wait(10s) == 1);
    // The refusal is the last line (the stats plugin says where metrics would have been first).
    auto const lines = m.lines();
    REQUIRE_FALSE(lines.empty());
    std::string const refusal = lines.back();
    INFO(refusal);
    CHECK(refusal.starts_with("cluster: "));
    CHECK(refusal.find(std::to_string(held.port)) != std::string::npos);
    CHECK(refusal.find("in use") != std::string::npos);
    CHECK(m.seen_pids().empty());
    CHECK(fs::is_empty(pids));
    // master.log ends with the refusal and its reason, after the line that began the start.
    auto const log = lines_of(logs / "master.log");
    REQUIRE(log.size() >= 2);
    CHECK(log[log.size() - 2].find(" starting (") != std::string::npos);
    CHECK(log.back().ends_with(" error start refused, the master exits: " + refusal.substr(9)));
  }

  // The next start finds nothing stale, serves, and its shutdown empties the directory again.
  master_process m(program{{CLUSTER_PLUGIN_SERVER}},
                   env({{"LOGGER_METRICS", "127.0.0.1:0"}, {"WEB_CONCURRENCY", "1"}}));
  REQUIRE(m.port() > 0);
  REQUIRE(wait_until([&] { return fs::exists(pids / "worker.0.pid"); }));
  m.signal(SIGTERM);
  CHECK(m.wait(20s) == 0);
  CHECK(m.count("stale") == 0);
  CHECK(fs::is_empty(pids));
}

TEST_CASE("workers running as another user get their files, and reopen them after rotation") {
  if (::geteuid() != 0) {
    WARN("skipped: only root can start workers as nobody");
    return;
  }
  temp_dir dir("logger");
  fs::path const d = dir.path();
  // Workers running as nobody must reach the directory to reopen the files in it.
  fs::permissions(d, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                         fs::perms::others_read | fs::perms::others_exec);
  master_process m(program{{CLUSTER_PLUGIN_SERVER}},
                   {{"LOGGER_DIR", d.string()}, {"LOGGER_AS_NOBODY", "1"}});
  int const port = m.port();
  REQUIRE(port > 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  auto const owner = [](fs::path const& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? static_cast<long>(st.st_uid) : -1L;
  };
  long const nobody = 65534;
  CHECK(owner(d / "master.log") == 0);
  CHECK(owner(d / "workers.access.log") == nobody);
  CHECK(owner(d / "workers.error.log") == nobody);

  for (std::string const name : {"master.log", "workers.access.log", "workers.error.log"})
    fs::rename(d / name, d / (name + ".1"));
  m.signal(SIGUSR1);
  REQUIRE(wait_until([&] { return file_has(d / "master.log", "info log files reopened"); }));
  CHECK(owner(d / "workers.access.log") == nobody);
  CHECK(owner(d / "workers.error.log") == nobody);
  // Each worker reopens within a quarter of a second; then every request lands in the new files.
  REQUIRE(wait_until(
      [&] {
        REQUIRE_FALSE(http_get(port, "/stderr").empty());
        std::set<unsigned> workers;
        for (auto const& l : lines_of(d / "workers.access.log")) {
          if (auto a = parse_access(l)) workers.insert(a->worker);
        }
        return workers.size() == 2;
      },
      10s));
  REQUIRE(wait_until([&] { return file_has(d / "workers.error.log", "stderr line from"); }));
  // A reopen that failed would have said so in the old error log.
  CHECK_FALSE(file_has(d / "workers.error.log.1", "reopening log files"));
  m.signal(SIGQUIT);
  REQUIRE(m.wait(15s) == 0);
}

namespace {

/// A tmpfs of `size` mounted on `dir` for the life of the object: a disk that fills up.
class small_disk {
 public:
  small_disk(fs::path dir, std::string const& size) : dir_(std::move(dir)) {
    std::string const options = "size=" + size;
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  small_disk(small_disk const&) = delete;
  small_disk& operator=(small_disk const&) = delete;
  ~small_disk() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  [[nodiscard]] bool mounted() const { return mounted_; }
  [[nodiscard]] std::string const& error() const { return error_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string error_;
};

}  // namespace

TEST_CASE("a full disk loses log lines, said on stderr, and the cluster serves on") {
  temp_dir dir("logger-full");
  small_disk disk(dir.path(), "256k");
  INFO("mount tmpfs: " << disk.error());
  REQUIRE(disk.mounted());
  fs::path const master_log = dir.path() / "master.log";
  master_process m = start(dir.path());
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  load_process load({"--port", std::to_string(port), "--connections", "8", "--max-seconds", "60"});
  REQUIRE(load.wait_running());
  // Access lines fill the disk.
  REQUIRE(wait_until([&] { return fs::space(dir.path()).available < 1024; }, 30s));

  // The last page of master.log may still have room: the master writes lines (each SIGUSR1 makes
  // one, "log files reopened") until one does not fit.
  std::string const cannot = "^cluster: logger: cannot write " + master_log.string() +
                             ": No space left on device; its lines are lost until it can$";
  bool said = false;
  for (int i = 0; i < 500 && !said; ++i) {
    std::size_t const from = m.lines().size();
    m.signal(SIGUSR1);
    REQUIRE(m.wait_line("cluster-event: reopen", 10s, from) >= 0);
    said = m.count(cannot) > 0;
  }
  REQUIRE(said);
  m.signal(SIGTTIN);
  REQUIRE(m.wait_line("worker_connected id=2") >= 0);
  auto const during = load.progress();
  REQUIRE(during);
  REQUIRE(load.wait_ok(during->ok + 500, 20s));

  // Room again: the master's next line is written, after a word about the lost ones.
  auto const stopped = load.stop();
  REQUIRE(stopped);
  CHECK(stopped->failures() == 0);
  fs::resize_file(dir.path() / "workers.access.log", 0);
  m.signal(SIGTTOU);
  REQUIRE(m.wait_line("^cluster: logger: " + master_log.string() +
                      " written again, after [1-9][0-9]* lost lines$") >= 0);
  CHECK(file_has(master_log, "lines could not be written before this one"));
  CHECK(m.count("cannot write") == 1);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}
