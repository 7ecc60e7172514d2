// SPDX-License-Identifier: BSL-1.0
// cluster::cli: the program as its own control tool, against a real master over its control
// socket: every command, human and JSON output, waits for outcomes, the pid-file fallback, who
// may connect, stale and live sockets, and clients that misbehave.
#include "../../support/temp_dir.hpp"
#include "../support/harness.hpp"
#include "../support/tool.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

using namespace cluster::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

program cli_server() { return program{{CLUSTER_PLUGIN_SERVER}}; }

/// A working directory with an empty `pids` directory in it.
struct workdir {
  temp_dir dir{"cluster-cli"};
  fs::path pids = dir.path() / "pids";
  fs::path socket = pids / "cluster.sock";
  workdir() { fs::create_directory(pids); }
  [[nodiscard]] std::map<std::string, std::string> env(std::string workers = "2") const {
    return {{"CLUSTER_TEST_WORKDIR", dir.path().string()}, {"WEB_CONCURRENCY", std::move(workers)}};
  }
};

using outcome = tool_outcome;

/// Runs the server program as a control tool with `args`, in the environment `env`; killed after
/// `limit`.
outcome tool(std::vector<std::string> const& args, std::map<std::string, std::string> const& env,
             std::chrono::milliseconds limit = 30s) {
  outcome o = run_tool(CLUSTER_PLUGIN_SERVER, args, env, {}, limit);
  UNSCOPED_INFO("tool " << (args.empty() ? "" : args[0]) << " -> " << o.status << "\nstdout:\n"
                        << o.out << "stderr:\n"
                        << o.err);
  return o;
}

/// Sends `request` on a new connection to `path` and reads until the master closes it.
std::string ask(fs::path const& path, std::string const& request,
                std::chrono::milliseconds limit = 10s) {
  int const fd = connect_unix(path);
  if (fd < 0) return "(cannot connect)";
  if (!request.empty()) {
    [[maybe_unused]] auto const n = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  }
  std::string got;
  auto const until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t const n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return got;
}

/// The pid of the master from a status document, or 0.
int master_pid_in(std::string const& json) {
  std::smatch m;
  static std::regex const re(R"(\{"master":\{"pid":(\d+))");
  return std::regex_search(json, m, re) ? std::stoi(m[1].str()) : 0;
}

/// How many workers a status document lists.
std::size_t workers_in(std::string const& json) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = json.find("{\"id\":", at)) != std::string::npos; ++at) ++n;
  return n;
}

}  // namespace

TEST_CASE("status tells the master and every worker, for a person and as JSON") {
  workdir w;
  master_process m(cli_server(), w.env("2"));
  REQUIRE(m.workers_connected(2));
  auto const human = tool({"status"}, w.env());
  CHECK(human.status == 0);
  CHECK(human.out.find("master     pid " + std::to_string(m.pid())) != std::string::npos);
  CHECK(human.out.find("active") != std::string::npos);
  CHECK(human.out.find("worker.0   pid " + std::to_string(m.worker_pid(0))) != std::string::npos);
  CHECK(human.out.find("worker.1   pid " + std::to_string(m.worker_pid(1))) != std::string::npos);

  auto const json = tool({"--json", "status"}, w.env());
  CHECK(json.status == 0);
  // One JSON document on stdout and nothing else there.
  REQUIRE(!json.out.empty());
  CHECK(json.out.front() == '{');
  CHECK(json.out.find('\n') == json.out.size() - 1);
  CHECK(master_pid_in(json.out) == m.pid());
  CHECK(workers_in(json.out) == 2);
  for (auto const* field : {"\"state\":\"active\"", "\"environment\":\"development\"",
                            "\"uptime_seconds\":", "\"restarted\":false",
                            "\"listening\":[\"127.0.0.1:", "\"state\":\"ready\"",
                            "\"generation\":1", "\"last_exit\":null"}) {
    CHECK(json.out.find(field) != std::string::npos);
  }
  // Each accepted command is one line in the master's log: who asked, and what.
  CHECK(m.wait_line(R"(cluster: control: status \(uid \d+, pid \d+\))") >= 0);
  // The socket is the master's alone: mode 0600, and no worker holds it.
  struct stat st {};
  REQUIRE(::stat(w.socket.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  for (int pid : {m.worker_pid(0), m.worker_pid(1)}) {
    bool holds = false;
    for (auto const& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
      std::error_code ec;
      auto const target = fs::read_symlink(fd.path(), ec).string();
      if (target.starts_with("socket:")) {
        // Compare with the master's control socket inode through /proc/net/unix.
        std::ifstream unix_table("/proc/net/unix");
        std::string line;
        while (std::getline(unix_table, line)) {
          if (line.find(w.socket.string()) != std::string::npos &&
              line.find(target.substr(8, target.size() - 9)) != std::string::npos) {
            holds = true;
          }
        }
      }
    }
    CHECK_FALSE(holds);
  }
}

TEST_CASE("spawn adds and removes workers; restart-workers waits until every one is replaced") {
  workdir w;
  master_process m(cli_server(), w.env("2"));
  REQUIRE(m.workers_connected(2));
  auto const add = tool({"spawn", "1"}, w.env());
  CHECK(add.status == 0);
  REQUIRE(m.wait_line("worker_connected id=2") >= 0);
  CHECK(workers_in(tool({"--json", "status"}, w.env()).out) == 3);
  CHECK(tool({"spawn", "-1"}, w.env()).status == 0);
  REQUIRE(wait_until([&] { return workers_in(tool({"--json", "status"}, w.env()).out) == 2; }));

  auto const roll = tool({"--json", "restart-workers"}, w.env());
  CHECK(roll.status == 0);
  CHECK(roll.out ==
        "{\"command\":\"restart-workers\",\"ok\":true,\"message\":\"every worker "
        "replaced (2)\"}\n");
  // When it returned, each slot had a new worker, already serving (a replaced one may still be
  // finishing its requests: it is listed as stopping until it exits).
  auto const after = tool({"--json", "status"}, w.env()).out;
  std::regex const new_and_ready(R"("state":"ready","generation":2)");
  CHECK(std::distance(std::sregex_iterator(after.begin(), after.end(), new_and_ready),
                      std::sregex_iterator()) == 2);
  CHECK(after.find(R"("state":"ready","generation":1)") == std::string::npos);
  CHECK(after.find("\"state\":\"starting\"") == std::string::npos);
  // Each says how its predecessor ended, in the words of the events and the metrics.
  std::regex const replaced(R"("generation":2,"uptime_seconds":[0-9.]+,"last_exit":"stopped")");
  CHECK(std::distance(std::sregex_iterator(after.begin(), after.end(), replaced),
                      std::sregex_iterator()) >= 1);
  CHECK(std::regex_search(tool({"status"}, w.env()).out,
                          std::regex(R"(generation 2, up [0-9.]+s, the previous one: stopped\n)")));

  // Wrong arguments: a usage error, nothing sent.
  CHECK(tool({"spawn"}, w.env()).status == 2);
  CHECK(tool({"spawn", "many"}, w.env()).status == 1);
  CHECK(tool({"status", "now"}, w.env()).status == 2);
}

TEST_CASE("kill signals one worker, which is replaced and counted as killed, not crashed") {
  workdir w;
  master_process m(cli_server(), w.env("2"));
  REQUIRE(m.workers_connected(2));
  int const first = m.worker_pid(1);
  auto const term = tool({"--json", "kill", "1"}, w.env());
  CHECK(term.status == 0);
  CHECK(term.out ==
        "{\"command\":\"kill\",\"ok\":true,\"message\":\"sent SIGTERM to worker 1 (pid " +
            std::to_string(first) + ")\"}\n");
  CHECK(m.wait_line("worker_killed id=1 pid=" + std::to_string(first) +
                    " code=0 signal=15 reason=killed") >= 0);
  REQUIRE(wait_until([&] { return m.worker_pid(1) != first && m.worker_pid(1) > 0; }));
  REQUIRE(m.wait_line("worker_connected id=1 pid=" + std::to_string(m.worker_pid(1))) >= 0);

  // A signal by name, with or without SIG, or by number; worker 0 is untouched.
  int const zero = m.worker_pid(0);
  int const second = m.worker_pid(1);
  CHECK(tool({"kill", "1", "sigkill"}, w.env()).status == 0);
  CHECK(m.wait_line("worker_killed id=1 pid=" + std::to_string(second) +
                    " code=0 signal=9 reason=killed") >= 0);
  CHECK(m.worker_pid(0) == zero);

  // Misuse: one clear line and a non-zero status, nothing sent.
  auto const nobody = tool({"kill", "7"}, w.env());
  CHECK(nobody.status == 1);
  CHECK(nobody.err == "cluster: kill: no worker 7 (status lists the workers)\n");
  auto const bad = tool({"kill", "0", "SIGNOPE"}, w.env());
  CHECK(bad.status == 1);
  CHECK(bad.err.find("unknown signal 'SIGNOPE'") != std::string::npos);
  CHECK(tool({"kill", "zero"}, w.env()).status == 1);
  CHECK(tool({"kill"}, w.env()).status == 2);
  CHECK(tool({"kill", "0", "TERM", "now"}, w.env()).status == 2);
  CHECK(m.worker_pid(0) == zero);
}

TEST_CASE("status shows an id whose restart waits out a crash loop's delay") {
  workdir w;
  master_process m(cli_server(), w.env("2"));
  REQUIRE(m.workers_connected(2));
  // Worker 1 killed as soon as each replacement accepts: short-lived deaths in a row make its
  // next replacement wait 100, 200, 400, 800 ms, then 1.6 s and 3.2 s (each up to 20 % less).
  std::size_t at = 0;
  for (int death = 1; death <= 7; ++death) {
    int const victim = m.worker_pid(1);
    REQUIRE(victim > 0);
    ::kill(victim, SIGKILL);
    int const killed =
        m.wait_line("worker_killed id=1 pid=" + std::to_string(victim) + " ", 10s, at);
    REQUIRE(killed >= 0);
    at = static_cast<std::size_t>(killed) + 1;
    if (death == 7) break;
    int const up = m.wait_line("worker_connected id=1 ", 10s, at);
    REQUIRE(up >= 0);
    at = static_cast<std::size_t>(up) + 1;
  }
  // Worker 1 now waits at least 2.56 s: the tool sees it waiting, and worker 0 serving.
  auto const json = tool({"--json", "status"}, w.env());
  CHECK(json.status == 0);
  std::smatch found;
  std::regex const waiting(
      R"("waiting":\[\{"waiting_id":1,"deaths_in_a_row":7,"restart_in_seconds":([0-9]+\.[0-9]{3}),)"
      R"("last_exit":"[a-z_]+"\}\]\}$)");
  std::string const line = json.out.substr(0, json.out.find('\n'));
  REQUIRE(std::regex_search(line, found, waiting));
  double const left = std::stod(found[1].str());
  CHECK(left > 0.0);
  CHECK(left <= 3.2);
  CHECK(line.find("{\"id\":0,\"pid\":" + std::to_string(m.worker_pid(0))) != std::string::npos);
  CHECK(line.find("{\"id\":1,") == std::string::npos);
  auto const human = tool({"status"}, w.env());
  CHECK(std::regex_search(
      human.out, std::regex(R"(worker\.1   waiting      restart in [0-9.]+s, after 7 deaths )"
                            R"(in a row, the previous one: [a-z_]+\n)")));
  CHECK(human.out.find("worker.0   pid " + std::to_string(m.worker_pid(0))) != std::string::npos);
  // Its wait over, worker 1 is back and no longer waiting.
  REQUIRE(m.wait_line("worker_connected id=1 ", 10s, at) >= 0);
  auto const after = tool({"--json", "status"}, w.env());
  CHECK(after.out.find("\"waiting\":[]") != std::string::npos);
  CHECK(after.out.find("{\"id\":1,") != std::string::npos);
}

TEST_CASE("a configuration check beside a running master leaves its files and socket alone") {
  workdir w;
  master_process m(cli_server(), w.env("2"));
  REQUIRE(m.workers_connected(2));
  auto const pid_file = [&] {
    std::ifstream in(w.pids / "master.pid");
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  std::string const before = pid_file();
  REQUIRE(before == std::to_string(m.pid()) + "\n");
  struct stat socket_before {};
  REQUIRE(::stat(w.socket.c_str(), &socket_before) == 0);
  auto env = w.env();
  env["CLUSTER_CHECK"] = "1";
  auto const check = tool({}, env);
  CHECK(check.status == 0);
  CHECK(check.out.empty());
  CHECK(check.err.starts_with("cluster: configuration OK: environment development, 2 workers, "));
  CHECK(pid_file() == before);
  struct stat socket_after {};
  REQUIRE(::stat(w.socket.c_str(), &socket_after) == 0);
  CHECK(socket_after.st_ino == socket_before.st_ino);
  CHECK(master_pid_in(tool({"--json", "status"}, w.env()).out) == m.pid());
}

TEST_CASE("restart-workers returns non-zero when a new worker cannot start") {
  workdir w;
  master_process m(cli_server(), w.env("2"));
  REQUIRE(m.workers_connected(2));
  std::ofstream(w.dir.path() / "broken") << "";
  auto const roll = tool({"restart-workers"}, w.env());
  CHECK(roll.status == 1);
  CHECK(roll.err.find("rolling restart failed") != std::string::npos);
  CHECK(roll.err.find("the other workers keep serving") != std::string::npos);
  fs::remove(w.dir.path() / "broken");
  CHECK(!http_get(m.port(), "/").empty());
}

TEST_CASE("shutdown and stop return once the master has exited") {
  workdir w;
  {
    master_process m(cli_server(), w.env("2"));
    REQUIRE(m.workers_connected(2));
    auto const done = tool({"shutdown"}, w.env());
    CHECK(done.status == 0);
    CHECK(done.err.find("shutting down gracefully") != std::string::npos);
    CHECK(done.err.find("the master has exited") != std::string::npos);
    // Already gone (a zombie until reaped): the wait is immediate.
    CHECK(m.wait(100ms) == std::optional<int>{0});
    CHECK_FALSE(fs::exists(w.socket));
  }
  {
    master_process m(cli_server(), w.env("2"));
    REQUIRE(m.workers_connected(2));
    auto const done = tool({"--json", "stop"}, w.env());
    CHECK(done.status == 0);
    CHECK(done.out == "{\"command\":\"stop\",\"ok\":true,\"message\":\"the master has exited\"}\n");
    CHECK(m.wait(100ms).has_value());
  }
  {
    // --no-wait: back as soon as the master accepted the command.
    master_process m(cli_server(), w.env("2"));
    REQUIRE(m.workers_connected(2));
    CHECK(tool({"--no-wait", "shutdown"}, w.env()).status == 0);
    CHECK(m.wait(10s) == std::optional<int>{0});
  }
}

TEST_CASE("status answers throughout a master restart: the old master, then the new one") {
  workdir w;
  master_process m(cli_server(), w.env("2"));
  REQUIRE(m.workers_connected(2));
  // The restart is asked on a connection of its own, kept open for its answer.
  int const restart = connect_unix(w.socket);
  REQUIRE(restart >= 0);
  std::string const request = "cluster-control 2 restart\n";
  REQUIRE(::send(restart, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string answer;
  std::set<int> masters;
  int asked = 0;
  auto const until = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    auto const status = ask(w.socket, "cluster-control 2 status\n", 5s);
    ++asked;
    INFO("status #" << asked << ": " << status);
    REQUIRE(status.starts_with("ok {\"master\":{\"pid\":"));
    masters.insert(master_pid_in(status.substr(3)));
    pollfd p{restart, POLLIN, 0};
    char buf[512];
    for (ssize_t n; ::poll(&p, 1, 0) > 0 && (n = ::read(restart, buf, sizeof buf)) > 0;)
      answer.append(buf, static_cast<std::size_t>(n));
    // Until the old master has exited, its successor answering.
    if (m.wait(1ms) && masters.size() == 2) break;
    REQUIRE(std::chrono::steady_clock::now() < until);
  }
  ::close(restart);
  CHECK(answer == "progress starting a new master\nok the new master serves; the old one stops\n");
  CHECK(masters.contains(m.pid()));
  auto const successors = m.successor_pids();
  REQUIRE(successors.size() == 1);
  CHECK(masters.contains(successors.front()));
  CHECK(tool({"shutdown"}, w.env()).status == 0);
}

TEST_CASE("restart returns once the new master serves, and fails when it cannot") {
  workdir w;
  master_process m(cli_server(), w.env("2"));
  REQUIRE(m.workers_connected(2));
  auto const done = tool({"restart"}, w.env());
  CHECK(done.status == 0);
  CHECK(done.err.find("starting a new master") != std::string::npos);
  CHECK(done.err.find("the new master serves") != std::string::npos);
  // The new master answers on the same socket, and knows it was restarted.
  auto const status = tool({"--json", "status"}, w.env());
  REQUIRE(status.status == 0);
  int const successor = master_pid_in(status.out);
  CHECK(successor != m.pid());
  CHECK(successor == (m.successor_pids().empty() ? -1 : m.successor_pids().back()));
  CHECK(status.out.find("\"restarted\":true") != std::string::npos);
  CHECK(workers_in(status.out) == 2);
  CHECK(m.wait(10s) == std::optional<int>{0});

  // A build that cannot start: the command fails with the reason, the master keeps serving.
  std::ofstream(w.dir.path() / "broken") << "";
  auto const failed = tool({"restart"}, w.env(), 60s);
  CHECK(failed.status == 1);
  CHECK(failed.err.find("restart failed") != std::string::npos);
  CHECK(failed.err.find("the old master keeps serving") != std::string::npos);
  fs::remove(w.dir.path() / "broken");
  auto const still = tool({"--json", "status"}, w.env());
  CHECK(master_pid_in(still.out) == successor);
  CHECK(tool({"stop"}, w.env()).status == 0);
}

TEST_CASE("without a master, status reads the pid files and tells stale ones; nothing starts") {
  workdir w;
  auto const none = tool({"status"}, w.env());
  CHECK(none.status == 3);
  CHECK(none.err.find("no master answers") != std::string::npos);
  CHECK(none.out == "no pid files\n");
  // Running a command started nothing: no socket, no file, no worker.
  CHECK(fs::is_empty(w.pids));

  // A master.pid naming a process that is gone; a worker file naming a live process that started
  // after the file was written (a reused pid); one naming a live process from before.
  pid_t const gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  std::ofstream(w.pids / "master.pid") << gone << "\n";
  std::ofstream(w.pids / "worker.0.pid") << ::getpid() << "\n";
  pid_t const later = ::fork();
  if (later == 0) {
    ::pause();
    ::_exit(0);
  }
  std::ofstream(w.pids / "worker.1.pid") << later << "\n";
  timespec const old[2] = {{0, UTIME_OMIT}, {::time(nullptr) - 3600, 0}};
  ::utimensat(AT_FDCWD, (w.pids / "worker.1.pid").c_str(), old, 0);
  auto const stale = tool({"--json", "status"}, w.env());
  ::kill(later, SIGKILL);
  ::waitpid(later, nullptr, 0);
  CHECK(stale.status == 3);
  CHECK(stale.out.find("\"master_answers\":false") != std::string::npos);
  CHECK(stale.out.find("{\"name\":\"master\",\"pid\":" + std::to_string(gone) +
                       ",\"alive\":false") != std::string::npos);
  CHECK(stale.out.find("{\"name\":\"worker.0\",\"pid\":" + std::to_string(::getpid()) +
                       ",\"alive\":true") != std::string::npos);
  CHECK(stale.out.find("{\"name\":\"worker.1\",\"pid\":" + std::to_string(later) +
                       ",\"alive\":false") != std::string::npos);
  CHECK(stale.out.find("now belongs to a process started after the file was written") !=
        std::string::npos);

  // Commands that change something say that nothing answers, and fail.
  auto const down = tool({"shutdown"}, w.env());
  CHECK(down.status == 1);
  CHECK(down.err.find("is the master running?") != std::string::npos);
}

TEST_CASE("usage: --help lists the commands, a wrong one is a usage error") {
  workdir w;
  auto const help = tool({"--help"}, w.env());
  CHECK(help.status == 0);
  for (auto const* c : {"status", "shutdown", "stop", "restart", "restart-workers", "spawn N",
                        "kill ID [SIGNAL]", "--json", "--no-wait"}) {
    CHECK(help.out.find(c) != std::string::npos);
  }
  auto const wrong = tool({"statsu"}, w.env());
  CHECK(wrong.status == 2);
  CHECK(wrong.err ==
        "cluster: unknown command 'statsu'; run 'cluster_plugin_cli --help' for the "
        "commands\n");
  CHECK(fs::is_empty(w.pids));
}

TEST_CASE("a stale socket is replaced; a second master on a live one refuses to start") {
  workdir w;
  {
    // A socket file nobody listens on, as a crashed master leaves it.
    int const fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, w.socket.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
  }
  master_process m(cli_server(), w.env("1"));
  REQUIRE(m.workers_connected(1));
  CHECK(m.count("replacing the stale control socket") == 1);
  CHECK(tool({"status"}, w.env()).status == 0);

  // Another master, with pid files of its own but the same socket: refused, with one line.
  workdir other;
  auto env = other.env("1");
  env["CLUSTER_TEST_SOCKET"] = w.socket.string();
  master_process second(cli_server(), env);
  CHECK(second.wait(10s) == std::optional<int>{1});
  CHECK(second.count("another master answers on the control socket") == 1);
  CHECK(second.count("worker_spawned") == 0);
  CHECK(tool({"status"}, w.env()).status == 0);
}

TEST_CASE("the master refuses other users, and survives clients that misbehave") {
  workdir w;
  master_process m(cli_server(), w.env("1"));
  REQUIRE(m.workers_connected(1));

  // Another protocol version: one clear line.
  auto const v1 = ask(w.socket, "cluster-control 1 status\n");
  CHECK(v1.starts_with("error this master speaks cluster-control 2, the client 1"));
  // Garbage, an unknown command, control characters.
  CHECK(ask(w.socket, "GET / HTTP/1.1\r\n\r\n").starts_with("error not a cluster-control"));
  CHECK(ask(w.socket, "cluster-control 2 reboot\n") == "error unknown command 'reboot'\n");
  CHECK(ask(w.socket, std::string("cluster-control 2 st\x01tus\n"))
            .starts_with("error the request holds a control character"));
  // Oversized: refused without reading the rest.
  CHECK(ask(w.socket, std::string(5000, 'x')).starts_with("error the request is longer"));
  // A half frame, and a client that never sends: closed after the time limit, and meanwhile
  // the master answers others.
  int const half = connect_unix(w.socket);
  REQUIRE(half >= 0);
  [[maybe_unused]] auto const n = ::send(half, "cluster-control 2 sta", 21, MSG_NOSIGNAL);
  int const idle = connect_unix(w.socket);
  REQUIRE(idle >= 0);
  CHECK(tool({"status"}, w.env()).status == 0);
  for (int fd : {half, idle}) {
    pollfd p{fd, POLLIN, 0};
    CHECK(::poll(&p, 1, 10000) == 1);  // end-of-file within the limit (5 s)
    ::close(fd);
  }
  // A hundred clients at once: the first 64 are served (they wait for their request), the
  // next are told the master is busy, and so is one more after them; none stalls it.
  std::vector<int> many;
  for (int i = 0; i < 100; ++i) many.push_back(connect_unix(w.socket));
  CHECK(std::count(many.begin(), many.end(), -1) == 0);
  CHECK(ask(w.socket, "cluster-control 2 status\n") == "error busy: too many control clients\n");
  for (int fd : many)
    if (fd >= 0) ::close(fd);
  REQUIRE(wait_until([&] { return tool({"status"}, w.env()).status == 0; }));

  // Another user: the socket's mode (0600, checked above) keeps them out; with the mode opened,
  // the peer check does, and the master logs the refusal.
  if (::geteuid() == 0) {
    int const nobody = 65534;
    ::chmod(w.dir.path().c_str(), 0711);
    ::chmod(w.pids.c_str(), 0711);
    ::chmod(w.socket.c_str(), 0666);
    pid_t const child = ::fork();
    if (child == 0) {
      if (::setgid(nobody) != 0 || ::setuid(nobody) != 0) ::_exit(126);
      std::string const got = ask(w.socket, "cluster-control 2 shutdown\n");
      ::_exit(got.starts_with("error permission denied: uid 65534") ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(m.wait_line(R"(cluster: control: refused uid 65534 \(pid \d+\))") >= 0);
    CHECK(alive(m.pid()));
  }
  CHECK(tool({"status"}, w.env()).status == 0);
  CHECK(!http_get(m.port(), "/").empty());
}

TEST_CASE("commands of the program's own run in the master, with typed arguments") {
  workdir w;
  master_process m(cli_server(), w.env("1"));
  REQUIRE(m.workers_connected(1));
  auto const greet = tool({"greet", "bob", "2"}, w.env());
  CHECK(greet.status == 0);
  CHECK(greet.out == "hello bob hello bob\n");  // its answer is its output
  auto const json = tool({"--json", "greet", "ann", "1"}, w.env());
  CHECK(json.out == "{\"command\":\"greet\",\"ok\":true,\"message\":\"hello ann\"}\n");
  // Words that do not fit the handler's types are refused before it runs.
  auto const bad = tool({"greet", "bob", "-1"}, w.env());
  CHECK(bad.status == 1);
  CHECK(bad.err == "cluster: greet: argument 2 must be a whole number (0 or more), not '-1'\n");
  CHECK(tool({"greet", "bob"}, w.env()).status == 2);
  // The handler reaches the master.
  auto const grow = tool({"grow", "1"}, w.env());
  CHECK(grow.status == 0);
  CHECK(grow.out == "done\n");
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  // A handler that throws fails the command with its reason; the master serves on.
  auto const fail = tool({"fail"}, w.env());
  CHECK(fail.status == 1);
  CHECK(fail.err == "cluster: fail: it fails on purpose\n");
  CHECK(alive(m.pid()));
  auto const help = tool({"--help"}, w.env());
  CHECK(
      help.out.find("Commands of this program:\n  greet NAME TIMES   greet NAME, TIMES times\n") !=
      std::string::npos);
  CHECK(m.count(R"(cluster: control: greet bob 2 \(uid)") == 1);
}

TEST_CASE("completion bash prints a script that completes every command, the program's own too") {
  workdir w;
  auto const script = tool({"completion", "bash"}, w.env());
  REQUIRE(script.status == 0);
  fs::path const file = w.dir.path() / "completion.bash";
  std::ofstream(file) << script.out;
  // What bash offers after `cluster_plugin_cli --json re` and after a command word.
  auto const complete = [&](std::string const& words, int index) {
    std::string const out = (w.dir.path() / "offered").string();
    std::string const command =
        "bash -c 'source " + file.string() + " && COMP_WORDS=(" + words +
        ") && COMP_CWORD=" + std::to_string(index) +
        " && _cluster_complete_cluster_plugin_cli && echo ${COMPREPLY[@]}' >" + out + " 2>&1";
    CHECK(std::system(command.c_str()) == 0);
    return read_small_file(out);
  };
  CHECK(complete("cluster_plugin_cli --json re", 2) == "restart restart-workers\n");
  CHECK(complete("cluster_plugin_cli gr", 1) == "greet grow\n");
  CHECK(complete("cluster_plugin_cli status st", 2) == "\n");
  CHECK(tool({"completion", "zsh"}, w.env()).status == 2);
}

namespace {

/// What the master answers `request` sent by a process running as `uid` with the groups
/// `groups` (its primary group 65534, nogroup): the reply, or why it could not ask.
std::string ask_as(fs::path const& socket, int uid, std::vector<gid_t> const& groups,
                   std::string const& request) {
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  pid_t const child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(65534) != 0 ||
        ::setuid(static_cast<uid_t>(uid)) != 0)
      ::_exit(126);
    std::string const got = ask(socket, request);
    [[maybe_unused]] auto const n = ::write(out[1], got.data(), got.size());
    ::_exit(0);
  }
  ::close(out[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
    got.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  ::waitpid(child, nullptr, 0);
  return got;
}

}  // namespace

TEST_CASE("groups: one may run every command, another only status; the others are refused") {
  if (::geteuid() != 0) return;  // switching users needs root
  workdir w;
  ::chmod(w.dir.path().c_str(), 0711);
  ::chmod(w.pids.c_str(), 0711);
  // `users` (gid 100) may do everything, `nogroup` (65534) may read; the socket is 0666.
  auto env = w.env("1");
  env["CLUSTER_TEST_GROUP"] = "users";
  env["CLUSTER_TEST_READ_GROUP"] = "65534";
  master_process m(cli_server(), env);
  REQUIRE(m.workers_connected(1));
  struct stat st {};
  REQUIRE(::stat(w.socket.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0666);
  CHECK(st.st_gid == 100);
  int const nobody = 65534;
  // A member of the read-only group (its primary group): status yes, anything else no.
  CHECK(ask_as(w.socket, nobody, {}, "cluster-control 2 status\n").starts_with("ok {"));
  CHECK(ask_as(w.socket, nobody, {}, "cluster-control 2 spawn 1\n") ==
        "error permission denied: uid 65534 may only read the status of this master\n");
  CHECK(m.wait_line(R"(cluster: control: refused spawn \(uid 65534, pid \d+\): read-only)") >= 0);
  // A member of `users` (a supplementary group): everything.
  CHECK(ask_as(w.socket, nobody, {100}, "cluster-control 2 grow 1\n") == "ok done\n");
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);

  // With one group only, the socket is 0660 and owned by it; outsiders are refused.
  CHECK(tool({"shutdown"}, w.env()).status == 0);
  auto only = w.env("1");
  only["CLUSTER_TEST_GROUP"] = "users";
  master_process second(cli_server(), only);
  REQUIRE(second.workers_connected(1));
  REQUIRE(::stat(w.socket.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);
  CHECK(st.st_gid == 100);
  ::chmod(w.socket.c_str(), 0666);  // past the mode, to the peer check
  CHECK(ask_as(w.socket, nobody, {}, "cluster-control 2 status\n")
            .starts_with("error permission denied: uid 65534 may not control this master"));
  CHECK(ask_as(w.socket, nobody, {100}, "cluster-control 2 status\n").starts_with("ok {"));
  CHECK(tool({"stop"}, w.env()).status == 0);

  // An unknown group stops start-up with one line, before any worker.
  auto unknown = w.env("1");
  unknown["CLUSTER_TEST_GROUP"] = "no-such-group-here";
  master_process third(cli_server(), unknown);
  CHECK(third.wait(10s) == std::optional<int>{1});
  CHECK(third.count("cluster: cli: the group 'no-such-group-here' is not a group on this system") ==
        1);
  CHECK(third.count("worker_spawned") == 0);
}
