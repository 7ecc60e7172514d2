// SPDX-License-Identifier: BSL-1.0
// cluster::repl and `./server console`: the console on a unix socket, on loopback TCP and on the
// control socket, against a real master: commands with typed arguments, errors, waits, pipelined
// lines, end-of-file, who may connect, addresses that are refused, and a master restart.
#include "../../support/temp_dir.hpp"
#include "../support/harness.hpp"
#include "../support/tool.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

using namespace cluster::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

program repl_server() { return program{{CLUSTER_PLUGIN_SERVER}}; }

struct workdir {
  temp_dir dir{"cluster-repl"};
  fs::path pids = dir.path() / "pids";
  fs::path console = dir.path() / "console.sock";
  workdir() { fs::create_directory(pids); }
  [[nodiscard]] std::map<std::string, std::string> env(std::string repl = "console.sock") const {
    return {{"CLUSTER_TEST_WORKDIR", dir.path().string()},
            {"WEB_CONCURRENCY", "2"},
            {"CLUSTER_TEST_REPL", std::move(repl)}};
  }
};

/// A console connection: sends lines, reads up to the next prompt.
class console_client {
 public:
  explicit console_client(int fd) : fd_(fd) {}
  console_client(console_client const&) = delete;
  console_client& operator=(console_client const&) = delete;
  ~console_client() {
    if (fd_ >= 0) ::close(fd_);
  }

  [[nodiscard]] bool connected() const { return fd_ >= 0; }

  void send(std::string const& bytes) const {
    [[maybe_unused]] auto const n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }

  /// What arrives until the next prompt (without it), or until end-of-file / `limit`.
  std::string until_prompt(std::chrono::milliseconds limit = 10s) {
    auto const deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto const at = buffer_.find("cluster> ");
      if (at != std::string::npos) {
        std::string out = buffer_.substr(0, at);
        buffer_.erase(0, at + 9);
        return out;
      }
      if (eof_ || std::chrono::steady_clock::now() >= deadline) return std::exchange(buffer_, {});
      read_some(50);
    }
  }

  /// Sends `line` and returns its answer.
  std::string ask(std::string const& line) {
    send(line + "\n");
    return until_prompt();
  }

  /// Everything until the master closes the connection.
  std::string until_eof(std::chrono::milliseconds limit = 10s) {
    auto const deadline = std::chrono::steady_clock::now() + limit;
    while (!eof_ && std::chrono::steady_clock::now() < deadline) read_some(50);
    return std::exchange(buffer_, {});
  }

  [[nodiscard]] bool eof() const { return eof_; }

  /// Sends end-of-file: the master answers what it has, then closes.
  void close_input() const { ::shutdown(fd_, SHUT_WR); }

 private:
  void read_some(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return;
    char buf[4096];
    ssize_t const n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) {
      eof_ = true;
      return;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
  }

  int fd_;
  std::string buffer_;
  bool eof_ = false;
};

int connect_tcp(std::string const& host, int port) {
  bool const v6 = host.find(':') != std::string::npos;
  int const fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (v6) {
    auto& in6 = reinterpret_cast<sockaddr_in6&>(addr);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET6, host.c_str(), &in6.sin6_addr);
    len = sizeof in6;
  } else {
    auto& in4 = reinterpret_cast<sockaddr_in&>(addr);
    in4.sin_family = AF_INET;
    in4.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &in4.sin_addr);
    len = sizeof in4;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Runs the server program as a control tool with `args`, `input` on its stdin.
tool_outcome run_tool(std::vector<std::string> const& args,
                      std::map<std::string, std::string> const& env, std::string const& input) {
  return cluster::testing::run_tool(CLUSTER_PLUGIN_SERVER, args, env, input);
}

}  // namespace

TEST_CASE("the console on a unix socket runs the commands and the program's own") {
  workdir w;
  master_process m(repl_server(), w.env());
  REQUIRE(m.workers_connected(2));
  REQUIRE(m.wait_line("cluster: repl: console on unix:" + w.console.string()) >= 0);
  struct stat st {};
  REQUIRE(::stat(w.console.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  console_client c(connect_unix(w.console));
  REQUIRE(c.connected());
  CHECK(c.until_prompt().starts_with("cluster console: master " + std::to_string(m.pid())));

  auto const help = c.ask("help");
  for (auto const* line : {"status", "spawn(N)", "kill(ID[, SIGNAL])", "pids", "restart-workers",
                           "shutdown", "greet(NAME)", "greet NAME"}) {
    CHECK(help.find(line) != std::string::npos);
  }
  CHECK(c.ask("status").find("worker.1   pid " + std::to_string(m.worker_pid(1))) !=
        std::string::npos);
  CHECK(c.ask("pids()") ==
        std::to_string(m.worker_pid(0)) + " " + std::to_string(m.worker_pid(1)) + "\n");
  CHECK(c.ask("greet(\"Ada Lovelace\")") == "hello Ada Lovelace\n");
  CHECK(c.ask("greet 'Grace Hopper';") == "hello Grace Hopper\n");
  CHECK(c.ask("") == "");

  // Misuse: an error line, and the console goes on.
  CHECK(c.ask("greet") == "error: greet takes 1 argument\n");
  CHECK(c.ask("spawn(two)").starts_with("error: spawn takes a number of workers"));
  CHECK(c.ask("spawn(2") == "error: a '(' is not closed\n");
  CHECK(c.ask("kill(0,, KILL)") == "error: an argument is missing before ','\n");
  CHECK(c.ask("eval(1 + 1)") == "error: arguments are separated by ','\n");
  CHECK(c.ask("system rm -rf /") == "error: unknown command 'system'\n");
  CHECK(c.ask(std::string("status\x01")) == "error: the line holds a control character\n");

  // Commands act: spawn, kill one worker, a rolling restart that answers when it is done.
  CHECK(c.ask("spawn(1)") == "1 worker(s) added\n");
  REQUIRE(m.wait_line("worker_connected id=2") >= 0);
  int const one = m.worker_pid(1);
  CHECK(c.ask("kill(1, KILL)") == "sent SIGKILL to worker 1 (pid " + std::to_string(one) + ")\n");
  CHECK(m.wait_line("worker_killed id=1 pid=" + std::to_string(one) +
                    " code=0 signal=9 reason=killed") >= 0);
  CHECK(c.ask("restart-workers") ==
        "replacing every worker, one at a time\nevery worker replaced (3)\n");
  CHECK(m.wait_line(R"(cluster: control: console: restart-workers \(uid \d+, pid \d+\))") >= 0);

  // quit ends the session; the master goes on.
  c.send("quit\n");
  CHECK(c.until_eof() == "bye\n");
  CHECK(c.eof());
  CHECK(::kill(m.pid(), 0) == 0);
}

TEST_CASE("pipelined lines are answered in order, those before end-of-file too") {
  workdir w;
  master_process m(repl_server(), w.env());
  REQUIRE(m.workers_connected(2));
  REQUIRE(m.wait_line("cluster: repl: console on unix:") >= 0);
  console_client c(connect_unix(w.console));
  REQUIRE(c.connected());
  c.until_prompt();
  // A waiting command in the middle holds the next line back until it has its answer; the
  // client's end-of-file does not cut the answers short.
  c.send("greet(a)\nrestart-workers\ngreet(b)\n");
  c.close_input();
  CHECK(c.until_eof(30s) ==
        "hello a\ncluster> replacing every worker, one at a time\nevery worker replaced (2)\n"
        "cluster> hello b\ncluster> ");
  CHECK(c.eof());
}

TEST_CASE("a line too long closes the console with one error line; the master serves on") {
  workdir w;
  master_process m(repl_server(), w.env());
  REQUIRE(m.workers_connected(2));
  REQUIRE(m.wait_line("cluster: repl: console on unix:") >= 0);
  {
    console_client c(connect_unix(w.console));
    REQUIRE(c.connected());
    c.until_prompt();
    c.send(std::string(3000, 'x'));
    CHECK(c.until_eof() == "error: the line is longer than 1024 bytes; closing\n");
  }
  console_client again(connect_unix(w.console));
  REQUIRE(again.connected());
  again.until_prompt();
  CHECK(again.ask("greet(x)") == "hello x\n");
}

TEST_CASE("the unix console is the master's user's alone") {
  workdir w;
  master_process m(repl_server(), w.env());
  REQUIRE(m.workers_connected(2));
  REQUIRE(m.wait_line("cluster: repl: console on unix:") >= 0);
  if (::geteuid() != 0) return;  // switching users needs root
  // As nobody: the socket's mode (0600) keeps it out before the master even sees it.
  pid_t const child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    int const fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, w.console.c_str(), sizeof addr.sun_path - 1);
    int const r = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::_exit(r != 0 && errno == EACCES ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

/// True when this machine has an IPv6 loopback address to bind (a kernel booted without IPv6
/// has none).
bool ipv6_loopback() {
  int const fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  bool const ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

TEST_CASE("a TCP console listens on loopback, IPv4 or IPv6") {
  std::vector<std::string> hosts{"127.0.0.1"};
  if (ipv6_loopback()) {
    hosts.emplace_back("::1");
  } else {
    WARN("no IPv6 loopback on this machine: the console on ::1 is not tried");
  }
  for (std::string const& host : hosts) {
    workdir w;
    master_process m(repl_server(), w.env("tcp:" + host));
    REQUIRE(m.workers_connected(2));
    std::string const port = m.capture(R"(cluster: repl: console on \[?[0-9a-f.:]+\]?:(\d+))");
    REQUIRE(!port.empty());
    console_client c(connect_tcp(host, std::stoi(port)));
    REQUIRE(c.connected());
    CHECK(c.until_prompt().starts_with("cluster console: master " + std::to_string(m.pid())));
    CHECK(c.ask("greet(tcp)") == "hello tcp\n");
    CHECK(m.wait_line(R"(cluster: control: console: greet tcp \(tcp \[?[0-9a-f.:]+\]?:\d+\))") >=
          0);
  }
}

TEST_CASE("a TCP console elsewhere than loopback, or on a name, refuses to start") {
  // (An empty unix path is refused the same way: "the console's socket path is empty".)
  for (auto const& [where, says] : std::vector<std::pair<std::string, std::string>>{
           {"tcp:0.0.0.0",
            "cluster: repl: a TCP console on 0.0.0.0 lets anyone who reaches it control the "
            "master; listen on loopback (127.0.0.1, ::1), use a unix socket, or say "
            "repl::tcp(...).allow_remote()"},
           {"tcp:console.example",
            "cluster: repl: the console's host 'console.example' is not an IP address; give one, "
            "such as 127.0.0.1 or ::1"}}) {
    workdir w;
    master_process m(repl_server(), w.env(where));
    CHECK(m.wait() == 1);
    // Appended rather than "^" + std::string: g++ 12 at -O3 reports a false -Wrestrict on it.
    std::string pattern = "^";
    pattern.append(std::regex_replace(says, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)"))
        .append("$");
    CHECK(m.wait_line(pattern) >= 0);
    CHECK(m.count("worker_spawned") == 0);
    CHECK(m.count("cluster: listening") == 0);
  }
}

TEST_CASE("allow_remote() lets a TCP console listen beyond loopback, as the program says") {
  // 0.0.0.0 is every address of the machine, loopback among them: the test reaches it there.
  workdir w;
  master_process m(repl_server(), w.env("tcp-remote:0.0.0.0"));
  REQUIRE(m.workers_connected(2));
  std::string const port = m.capture(R"(cluster: repl: console on 0\.0\.0\.0:(\d+))");
  REQUIRE(!port.empty());
  console_client c(connect_tcp("127.0.0.1", std::stoi(port)));
  REQUIRE(c.connected());
  CHECK(c.until_prompt().starts_with("cluster console: master " + std::to_string(m.pid())));
  CHECK(c.ask("greet(remote)") == "hello remote\n");
}

TEST_CASE("./server console is the same console on the control socket") {
  workdir w;
  master_process m(repl_server(), w.env());
  REQUIRE(m.workers_connected(2));
  auto const o = run_tool({"console"}, w.env(), "greet(tool)\npids\nquit\nstatus\n");
  CHECK(o.status == 0);
  CHECK(o.out.starts_with("cluster console: master " + std::to_string(m.pid())));
  CHECK(o.out.find("cluster> hello tool\ncluster> " + std::to_string(m.worker_pid(0)) + " " +
                   std::to_string(m.worker_pid(1)) + "\ncluster> bye\n") != std::string::npos);
  CHECK(o.out.find("worker.0") == std::string::npos);  // nothing after quit
  CHECK(m.wait_line(R"(cluster: control: console \(uid \d+, pid \d+\))") >= 0);
  auto const json = run_tool({"--json", "console"}, w.env(), "");
  CHECK(json.status == 2);
}

TEST_CASE("the console follows a master restart") {
  workdir w;
  master_process m(repl_server(), w.env());
  REQUIRE(m.workers_connected(2));
  int const first = m.wait_line("cluster: repl: console on unix:");
  REQUIRE(first >= 0);
  console_client before(connect_unix(w.console));
  REQUIRE(before.connected());
  before.until_prompt();
  // restart answers once the new master serves, as the control tool's does.
  CHECK(before.ask("restart") ==
        "starting a new master\nthe new master serves; the old one stops\n");
  auto const successors = m.successor_pids();
  REQUIRE(!successors.empty());
  int const next = successors.back();
  REQUIRE(m.wait_line("cluster: repl: console on unix:" + w.console.string(), 20s,
                      static_cast<std::size_t>(first) + 1) >= 0);
  REQUIRE(wait_until([&] {
    console_client c(connect_unix(w.console));
    return c.connected() &&
           c.until_prompt(2s).starts_with("cluster console: master " + std::to_string(next));
  }));
  console_client after(connect_unix(w.console));
  REQUIRE(after.connected());
  after.until_prompt();
  after.send("shutdown\n");
  CHECK(after.until_eof(30s).starts_with("shutting down gracefully\n"));
  CHECK(wait_until([&] { return !alive(next); }, 30s));
}

TEST_CASE("stats, from the stats plugin, in the console and from the control tool") {
  workdir w;
  master_process m(repl_server(), w.env());
  REQUIRE(m.workers_connected(2));
  int const port = m.port();
  REQUIRE(port > 0);
  for (int i = 0; i < 3; ++i) REQUIRE(!http_get(port, "/").empty());

  auto const tool = run_tool({"stats"}, w.env(), "");
  CHECK(tool.status == 0);
  CHECK(tool.out.starts_with("master    pid " + std::to_string(m.pid()) + ", active"));
  std::smatch total;
  REQUIRE(std::regex_search(tool.out, total, std::regex(R"(\ntotal +\d+ +(\d+) +(\d+)\n$)")));
  CHECK(total[1].str() == "3");  // connections
  CHECK(total[2].str() == "3");  // requests

  // Several lines in one reply: escaped on the wire, whole in the JSON document.
  auto const json = run_tool({"--json", "stats"}, w.env(), "");
  CHECK(json.status == 0);
  CHECK(json.out.starts_with("{\"command\":\"stats\",\"ok\":true,\"message\":\"master    pid "));
  CHECK(json.out.find("\\nworker  pid") != std::string::npos);

  console_client c(connect_unix(w.console));
  REQUIRE(c.connected());
  c.until_prompt();
  auto const report = c.ask("stats()");
  CHECK(report.starts_with("master    pid " + std::to_string(m.pid())));
  CHECK(report.find("\nworker  pid") != std::string::npos);
  CHECK(c.ask("help").find("stats") != std::string::npos);

  // status does not wait for anything the plugins do.
  auto const status = run_tool({"--json", "status"}, w.env(), "");
  CHECK(status.status == 0);
  CHECK(status.out.starts_with("{\"master\":{\"pid\":" + std::to_string(m.pid())));
}
