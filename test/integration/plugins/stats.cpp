// SPDX-License-Identifier: BSL-1.0
// The stats plugin in real processes: counts of a known workload, deaths, the metrics endpoint
// under bad clients, start-up errors, and the figures carried across a master restart.
#include "../../support/prometheus_text.hpp"
#include "../support/harness.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using namespace cluster::testing;

namespace {

/// Starts the stats test server with `env` (see stats_server.cpp).
master_process start_server(std::map<std::string, std::string> env) {
  return master_process(program{{CLUSTER_PLUGIN_SERVER}}, std::move(env));
}

/// The body of one scrape of `/metrics`, checked strictly; an empty check if it failed.
prometheus_check scrape(int port) {
  std::string const response = http_get(port, "/metrics", 5s);
  auto const end = response.find("\r\n\r\n");
  if (!response.starts_with("HTTP/1.1 200 OK\r\n") || end == std::string::npos) {
    prometheus_check failed;
    failed.problems.push_back("no 200 answer: " + response);
    return failed;
  }
  auto check = check_prometheus(std::string_view(response).substr(end + 4));
  return check;
}

/// Scrapes until `done(check)` holds for a valid exposition (or the time is up); the last one.
prometheus_check scrape_until(int port, std::function<bool(prometheus_check const&)> const& done,
                              std::chrono::milliseconds limit = 10s) {
  prometheus_check last;
  wait_until(
      [&] {
        last = scrape(port);
        return last.ok() && done(last);
      },
      limit);
  return last;
}

/// Sends one keep-alive GET / on `c` and reads its whole answer.
std::string keep_alive_get(client& c) {
  c.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
  return c.receive([](std::string const& got) {
    auto const end = got.find("\r\n\r\n");
    return end != std::string::npos && got.find('\n', end + 4) != std::string::npos;
  });
}

/// The text report printed on SIGUSR1 (between its begin and end lines).
std::string report(master_process& m) {
  std::size_t const from = m.lines().size();
  m.signal(SIGUSR1);
  int const begin = m.wait_line("^stats report begin$", 10s, from);
  int const end = m.wait_line("^stats report end$", 10s, from);
  if (begin < 0 || end < 0) return {};
  std::string text;
  auto const& all = m.lines();
  for (int i = begin + 1; i < end; ++i) text += all[static_cast<std::size_t>(i)] + "\n";
  return text;
}

/// A port free a moment ago on 127.0.0.1 (for the cases that need the same address twice).
int free_port() {
  int const fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// The inode of the socket listening on 127.0.0.1:`port`, from /proc/net/tcp; empty if none.
std::string listening_inode(int port) {
  std::string const text = read_small_file("/proc/net/tcp");
  char local[32];
  std::snprintf(local, sizeof local, "0100007F:%04X", static_cast<unsigned>(port));
  std::regex const re(std::string(R"(^\s*\d+: )") + local + R"( 00000000:0000 0A .*$)",
                      std::regex::multiline);
  std::smatch m;
  if (!std::regex_search(text, m, re)) return {};
  // Fields: sl local rem st queues tr retrnsmt uid timeout inode ...
  std::istringstream fields(m[0].str());
  std::string f;
  for (int i = 0; i < 10 && fields >> f; ++i) {
  }
  return f;
}

/// True when `pid` has the socket with `inode` open.
bool holds_socket(int pid, std::string const& inode) {
  std::error_code ec;
  for (auto const& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    if (std::filesystem::read_symlink(e.path(), ec).string() == "socket:[" + inode + "]")
      return true;
  }
  return false;
}

}  // namespace

TEST_CASE("stats counts the connections and requests of a known workload") {
  auto m = start_server({{"STATS_COUNT", "1"}});
  int const port = m.port();
  int const mport = m.metrics_port();
  REQUIRE(port > 0);
  REQUIRE(mport > 0);
  auto check = scrape_until(mport, [](auto const& c) {
    return c.value("cluster_workers") == 2 && c.all("cluster_worker_requests_total").size() == 2;
  });
  for (auto const& p : check.problems) UNSCOPED_INFO(p);
  REQUIRE(check.ok());
  REQUIRE(check.value("cluster_workers") == 2);
  CHECK(check.sum("cluster_worker_connections_total") == 0);
  CHECK(check.sum("cluster_worker_requests_total") == 0);

  // Only the master holds the metrics socket: each worker closes what it inherited as it starts,
  // which the figures above (counted from the fork, in the master) do not wait for.
  std::string const inode = listening_inode(mport);
  REQUIRE(!inode.empty());
  CHECK(holds_socket(m.pid(), inode));
  for (int pid : m.seen_pids()) {
    INFO("worker " << pid);
    CHECK(wait_until([&] { return !holds_socket(pid, inode); }));
  }

  {
    std::vector<std::unique_ptr<client>> open;
    for (int i = 0; i < 5; ++i) {
      open.push_back(std::make_unique<client>(port));
      for (int r = 0; r < 3; ++r) REQUIRE(served_by(keep_alive_get(*open.back())) > 0);
    }
    // Five connections open, fifteen requests answered.
    check = scrape_until(mport, [](auto const& c) {
      return c.sum("cluster_worker_connections_active") == 5 &&
             c.sum("cluster_worker_requests_total") == 15;
    });
    CHECK(check.sum("cluster_worker_connections_active") == 5);
    CHECK(check.sum("cluster_worker_connections_total") == 5);
    CHECK(check.sum("cluster_worker_requests_total") == 15);
  }
  check = scrape_until(
      mport, [](auto const& c) { return c.sum("cluster_worker_connections_active") == 0; });
  CHECK(check.sum("cluster_worker_connections_active") == 0);
  CHECK(check.sum("cluster_worker_connections_total") == 5);
  CHECK(check.sum("cluster_worker_requests_total") == 15);

  // The text report shows the same totals in its table.
  std::string const text = report(m);
  INFO(text);
  CHECK(std::regex_search(text, std::regex(R"(^workers   2 \(deaths 0,)", std::regex::multiline)));
  CHECK(std::regex_search(text, std::regex(R"(^total +0 +5 +15$)", std::regex::multiline)));
  CHECK(std::regex_search(text,
                          std::regex(R"(^0 +\d+ +\d+s +\d+ +\d+ +\d+$)", std::regex::multiline)));
}

TEST_CASE("stats counts a killed worker and shows its replacement with a fresh uptime") {
  auto m = start_server({});  // counting off: no counter families
  int const mport = m.metrics_port();
  REQUIRE(mport > 0);
  // Worker 0 has been up for a while.
  auto check = scrape_until(mport, [](auto const& c) {
    for (auto const& s : c.all("cluster_worker_uptime_seconds"))
      if (prometheus_check::label(s, "worker") == "0" && s.value >= 1.0) return true;
    return false;
  });
  REQUIRE(check.ok());
  CHECK(check.all("cluster_worker_requests_total").empty());
  CHECK(check.all("cluster_worker_connections_total").empty());
  CHECK(check.value("cluster_worker_deaths_total") == 0);
  int old_pid = 0;
  for (auto const& s : check.all("cluster_worker_uptime_seconds"))
    if (prometheus_check::label(s, "worker") == "0")
      old_pid = std::stoi(prometheus_check::label(s, "pid"));
  REQUIRE(old_pid > 0);

  ::kill(old_pid, SIGKILL);
  int new_pid = 0;
  double new_uptime = -1;
  check = scrape_until(mport, [&](auto const& c) {
    if (c.value("cluster_worker_deaths_total") != 1 || c.value("cluster_workers") != 2)
      return false;
    for (auto const& s : c.all("cluster_worker_uptime_seconds")) {
      if (prometheus_check::label(s, "worker") != "0") continue;
      new_pid = std::stoi(prometheus_check::label(s, "pid"));
      new_uptime = s.value;
    }
    return new_pid != old_pid;
  });
  CHECK(check.value("cluster_worker_deaths_total") == 1);
  // Killed from outside: a crash, in the one taxonomy the events and the logs use.
  CHECK(check.value("cluster_worker_exits_total", {{"reason", "crashed"}}) == 1);
  CHECK(check.value("cluster_worker_exits_total", {{"reason", "stopped"}}) == 0);
  CHECK(new_pid != old_pid);
  CHECK(new_pid == m.worker_pid(0));
  CHECK(new_uptime >= 0);
  CHECK(new_uptime < 1.0);
  std::string const text = report(m);
  INFO(text);
  CHECK(text.find("(deaths 1, rolling restarts 0, master restarts 0)") != std::string::npos);
  CHECK(text.find("\nexits     crashed 1\n") != std::string::npos);

  // A rolling restart (SIGHUP) replaces both workers in place: one rolling restart, no death.
  m.signal(SIGHUP);
  REQUIRE(m.wait_line(R"(rolling restart: every worker replaced \(2\))") >= 0);
  check = scrape_until(mport, [](auto const& c) {
    return c.value("cluster_rolling_restarts_total") == 1 && c.value("cluster_workers") == 2;
  });
  CHECK(check.value("cluster_rolling_restarts_total") == 1);
  CHECK(check.value("cluster_worker_deaths_total") == 1);
  // Each old worker stopped once its replacement accepted: once the roll is done, both are.
  check = scrape_until(mport, [](auto const& c) {
    return c.value("cluster_worker_exits_total", {{"reason", "stopped"}}) == 2;
  });
  CHECK(check.value("cluster_worker_exits_total", {{"reason", "stopped"}}) == 2);
  CHECK(check.value("cluster_worker_exits_total", {{"reason", "crashed"}}) == 1);
}

TEST_CASE("stats' metrics endpoint survives clients that send garbage or nothing") {
  auto m = start_server({{"STATS_COUNT", "1"}});
  int const mport = m.metrics_port();
  REQUIRE(mport > 0);
  REQUIRE(scrape(mport).ok());

  // Silent and half-sent requests are held open while other scrapes are answered...
  client silent(mport);
  client half(mport);
  half.send("GET /metr");
  REQUIRE(scrape(mport).ok());
  // ... and are cut off within the time limit (2 s), not left to hang.
  auto const t0 = clock::now();
  CHECK(silent.receive_all(5s).empty());
  CHECK(half.receive_all(5s).empty());
  CHECK(clock::now() - t0 < 4s);

  // Random bytes beyond the request size limit: a 400, then the connection closes.
  {
    std::mt19937 rng(42);
    std::string junk(20000, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng() % 256);
    client c(mport);
    try {
      c.send(junk);
    } catch (std::exception const&) {
      // The master may close before taking it all in.
    }
    std::string const got = c.receive_all(5s);
    CHECK((got.empty() || got.starts_with("HTTP/1.1 400")));
  }
  // A bare line without the rest of the head, then the client's end-of-file.
  {
    client c(mport);
    c.send("\x16\x03\x01 TLS hello\r\n\r\n");
    CHECK(c.receive_all(5s).starts_with("HTTP/1.1 400"));
  }
  CHECK(http_get(mport, "/").starts_with("HTTP/1.1 404"));
  CHECK(http_get(mport, "/metrics/x").starts_with("HTTP/1.1 404"));

  auto const response = http_get(mport, "/metrics");
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(response.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  CHECK(alive(m.pid()));
  auto const check = scrape(mport);
  for (auto const& p : check.problems) UNSCOPED_INFO(p);
  CHECK(check.ok());
  CHECK(check.value("cluster_workers") == 2);
}

TEST_CASE("stats refuses a metrics address in use or malformed, before any worker starts") {
  // Hold a port, listening.
  int const fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::string const taken = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));

  {
    auto m = start_server({{"STATS_METRICS", taken}});
    REQUIRE(m.wait(10s) == 1);
    auto const& lines = m.lines();
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] == "cluster: stats: cannot serve metrics on " + taken +
                          ": Address already in use; stop what uses that address or choose "
                          "another .metrics address");
  }
  ::close(fd);
  {
    auto m = start_server({{"STATS_METRICS", "localhost:9100"}});
    REQUIRE(m.wait(10s) == 1);
    auto const& lines = m.lines();
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] ==
          "cluster: stats: the metrics address \"localhost:9100\" is not host:port with a numeric "
          "host; write e.g. .metrics = \"127.0.0.1:9100\" (port 0: any free port)");
  }
}

TEST_CASE("stats carries its figures across a master restart and serves the same address") {
  int const mport = free_port();
  auto m = start_server({{"STATS_METRICS", "127.0.0.1:" + std::to_string(mport)}});
  REQUIRE(m.metrics_port() == mport);
  auto check = scrape_until(mport, [](auto const& c) { return c.value("cluster_workers") == 2; });
  REQUIRE(check.ok());
  auto const start_time = check.value("cluster_start_time_seconds");
  REQUIRE(start_time);
  ::kill(m.worker_pid(1), SIGKILL);
  check = scrape_until(mport, [](auto const& c) {
    return c.value("cluster_worker_deaths_total") == 1 && c.value("cluster_workers") == 2;
  });
  REQUIRE(check.value("cluster_worker_deaths_total") == 1);

  std::size_t const from = m.lines().size();
  m.signal(SIGUSR2);
  std::string const successor =
      m.capture(R"(cluster: restart: new master (\d+) is serving)", 20s, from);
  REQUIRE(!successor.empty());
  REQUIRE(m.wait(20s) == 0);  // the old master has exited
  // The new master binds the same address once the old one released it.
  REQUIRE(m.metrics_port(from) == mport);
  check = scrape_until(mport, [&](auto const& c) {
    return c.value("cluster_master_info", {{"pid", successor}, {"environment", "development"}}) ==
           1;
  });
  for (auto const& p : check.problems) UNSCOPED_INFO(p);
  REQUIRE(check.ok());
  CHECK(check.value("cluster_master_restarts_total") == 1);
  CHECK(check.value("cluster_worker_deaths_total") == 1);
  CHECK(check.value("cluster_worker_exits_total", {{"reason", "crashed"}}) == 1);  // carried over
  CHECK(check.value("cluster_start_time_seconds") == Approx(*start_time).margin(0.001));
  CHECK(*check.value("cluster_master_start_time_seconds") > *start_time);
  CHECK(check.value("cluster_workers") == 2);
}
