// SPDX-License-Identifier: BSL-1.0
// Behind nginx, a master restart (SIGUSR2) under load fails no request and trips no upstream error.
#include "../support/temp_dir.hpp"
#include "support/harness.hpp"
#include "support/load.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using namespace cluster::testing;

namespace {

constexpr char const* nginx_program = "/usr/sbin/nginx";

std::string read_text(std::filesystem::path const& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A loopback port that was free a moment ago: bound to port 0, read, closed. Someone else may
/// take it before nginx binds it; the caller retries on EADDRINUSE.
int free_port() {
  int const fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind 127.0.0.1:0");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

/// nginx.conf proxying 127.0.0.1:`port` to both masters over keep-alive connections, with every
/// path nginx writes inside `dir`.
std::string nginx_config(std::filesystem::path const& dir, int port, int upstream_a,
                         int upstream_b) {
  std::string text = R"(master_process on;
worker_processes 1;
error_log @DIR@/error.log warn;
pid @DIR@/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path @DIR@/client_body;
  proxy_temp_path @DIR@/proxy;
  fastcgi_temp_path @DIR@/fastcgi;
  uwsgi_temp_path @DIR@/uwsgi;
  scgi_temp_path @DIR@/scgi;
  upstream masters {
    server 127.0.0.1:@UPSTREAM_A@;
    server 127.0.0.1:@UPSTREAM_B@;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:@PORT@;
    location / {
      proxy_pass http://masters;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
)";
  std::pair<std::string, std::string> const values[] = {
      {"@DIR@", dir.string()},
      {"@UPSTREAM_A@", std::to_string(upstream_a)},
      {"@UPSTREAM_B@", std::to_string(upstream_b)},
      {"@PORT@", std::to_string(port)}};
  for (auto const& [name, value] : values) {
    for (auto at = text.find(name); at != std::string::npos; at = text.find(name, at)) {
      text.replace(at, name.size(), value);
      at += value.size();
    }
  }
  return text;
}

/// nginx in the foreground as the test's child, in a process group of its own. The destructor
/// stops it gracefully (SIGQUIT), and SIGKILLs the group if it has not exited within 5 s.
class nginx_process {
 public:
  explicit nginx_process(std::filesystem::path const& dir) : dir_(dir) {
    std::string const prefix = dir.string() + "/";
    std::string const conf = prefix + "nginx.conf";
    std::string const early_log = prefix + "error.log";
    std::string const output = prefix + "output.log";
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int const out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::close_range(3, ~0U, 0);
      ::execl(nginx_program, nginx_program, "-p", prefix.c_str(), "-c", conf.c_str(), "-e",
              early_log.c_str(), "-g", "daemon off;", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
  }
  nginx_process(nginx_process const&) = delete;
  nginx_process& operator=(nginx_process const&) = delete;
  ~nginx_process() { stop(); }

  /// False once nginx has exited (and been reaped).
  bool running() {
    if (reaped_) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) reaped_ = true;
    return !reaped_;
  }

  /// Graceful stop, then a bounded wait, then SIGKILL to the whole group.
  void stop() {
    if (running()) ::kill(pid_, SIGQUIT);
    wait_until([&] { return !running(); }, 5s);
    ::kill(-pid_, SIGKILL);  // the worker too, should the master have left it behind
    if (!reaped_) ::waitpid(pid_, nullptr, 0);
    reaped_ = true;
  }

  /// Everything nginx logged: error.log and what it wrote to stdout/stderr.
  [[nodiscard]] std::string log() const {
    return read_text(dir_ / "error.log") + read_text(dir_ / "output.log");
  }

 private:
  std::filesystem::path dir_;
  int pid_ = -1;
  bool reaped_ = false;
};

std::string joined(std::vector<std::string> const& lines) {
  std::string out;
  for (auto const& l : lines) out += l + "\n";
  return out;
}

}  // namespace

TEST_CASE("a master restart behind nginx fails no request and causes no upstream error") {
  if (::access(nginx_program, X_OK) != 0) FAIL("no /usr/sbin/nginx: run scripts/install-deps");
  master_process a("http", {{"WEB_CONCURRENCY", "2"}});
  master_process b("http", {{"WEB_CONCURRENCY", "2"}});
  int const port_a = a.port();
  int const port_b = b.port();
  REQUIRE(port_a > 0);
  REQUIRE(port_b > 0);
  for (auto* m : {&a, &b}) {
    REQUIRE(m->wait_line("worker_connected id=0") >= 0);
    REQUIRE(m->wait_line("worker_connected id=1") >= 0);
  }

  temp_dir dir("cluster-nginx");
  // nginx started as root runs its worker as nobody, which must reach the temp paths inside.
  std::filesystem::permissions(
      dir.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                      std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                      std::filesystem::perms::others_exec);
  std::optional<nginx_process> nginx;
  int port = 0;
  for (int attempt = 0; attempt < 5 && port == 0; ++attempt) {
    int const candidate = free_port();
    std::ofstream(dir.path() / "nginx.conf") << nginx_config(dir.path(), candidate, port_a, port_b);
    nginx.emplace(dir.path());
    bool const answers =
        wait_until(
            [&] {
              return http_get(candidate, "/", 1s).find("200 OK") != std::string::npos ||
                     !nginx->running();
            },
            10s) &&
        nginx->running();
    if (answers) {
      port = candidate;
      break;
    }
    std::string const log = nginx->log();
    nginx.reset();
    INFO(log);
    // Only a port taken between free_port() and nginx's bind() is worth another try.
    REQUIRE(log.find("Address already in use") != std::string::npos);
  }
  REQUIRE(port > 0);

  load_process load({"--port", std::to_string(port), "--connections", "20", "--max-seconds", "120",
                     "--timeout-ms", "5000"});
  REQUIRE(load.wait_running());
  auto const before = load.progress();
  REQUIRE(before);
  REQUIRE(before->failures() == 0);

  auto const old_workers = a.seen_pids();
  a.signal(SIGUSR2);
  std::string const started =
      a.capture(R"(^cluster: restarting: starting a new master \(pid (\d+)\))", 10s);
  if (started.empty()) FAIL("no new master after SIGUSR2; master A wrote:\n" << joined(a.lines()));
  // master_process stops and reaps the new master too: it shares master A's process group.
  {
    INFO("master A wrote:\n" << joined(a.lines()));
    REQUIRE(a.wait_line(R"(^cluster: restart: new master )" + started + " is serving", 30s) >= 0);
    REQUIRE(a.wait(30s) == 0);
  }
  CHECK(a.count("cluster: restart failed") == 0);

  // Keep the load on the new master's workers for a while: a few thousand more answers.
  auto const after_exit = load.progress();
  REQUIRE(after_exit);
  auto const later = load.wait_ok(after_exit->ok + 3000, 60s);
  REQUIRE(later);
  REQUIRE(later->ok >= after_exit->ok + 3000);
  // Master A's port is served by the new master's workers.
  int const server = served_by(http_get(port_a, "/"));
  CHECK(server > 0);
  CHECK(std::count(old_workers.begin(), old_workers.end(), server) == 0);

  auto const s = load.stop();
  REQUIRE(s);
  INFO("load: requests=" << s->requests << " ok=" << s->ok << " non200=" << s->non200
                         << " connect_errors=" << s->connect_errors << " lost=" << s->lost
                         << " fresh_failed=" << s->fresh_failed);
  CHECK(s->ok > before->ok);
  CHECK(s->non200 == 0);
  CHECK(s->lost == 0);
  CHECK(s->connect_errors == 0);
  CHECK(s->fresh_failed == 0);

  nginx->stop();
  std::string const log = nginx->log();
  INFO("nginx logged:\n" << log);
  CHECK(log.find("upstream") == std::string::npos);
}
