// SPDX-License-Identifier: BSL-1.0
// The cli plugin's routes on the stats plugin's HTTP endpoint, against a real master: GET /status,
// commands sent as POST /NAME with the token (and refused without it, with a log line), waits for
// outcomes, refused starts, and requests that misbehave.
#include "../../support/temp_dir.hpp"
#include "../support/harness.hpp"
#include "../support/tool.hpp"

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/stat.h>

#include <chrono>
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

program admin_server() { return program{{CLUSTER_PLUGIN_SERVER}}; }

constexpr char const* token = "0123456789abcdefghijklmnopqrstuv";

/// A working directory with an empty `pids` directory and a token file (mode 0600).
struct workdir {
  temp_dir dir{"cluster-admin"};
  fs::path pids = dir.path() / "pids";
  fs::path token_file = dir.path() / "admin.token";
  explicit workdir(std::string const& text = token, unsigned mode = 0600) {
    fs::create_directory(pids);
    std::ofstream(token_file) << text << "\n";
    ::chmod(token_file.c_str(), mode);
  }
  [[nodiscard]] std::map<std::string, std::string> env(bool with_token = true) const {
    std::map<std::string, std::string> e{{"CLUSTER_TEST_WORKDIR", dir.path().string()},
                                         {"WEB_CONCURRENCY", "2"}};
    if (with_token) e["CLUSTER_TEST_TOKEN_FILE"] = token_file.string();
    return e;
  }
};

/// One HTTP request with `Connection: close`; the whole response, or "" on failure.
std::string http(int port, std::string const& method, std::string const& path,
                 std::string const& body = {}, std::string const& headers = {},
                 std::chrono::milliseconds limit = 30s) {
  try {
    client c(port);
    c.send(method + " " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" + headers +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    std::string const got = c.receive_all(limit);
    UNSCOPED_INFO(method << " " << path << " -> " << got);
    return got;
  } catch (std::exception const&) {
    return {};
  }
}

std::string bearer(std::string const& t = token) { return "Authorization: Bearer " + t + "\r\n"; }

/// The status code of a response, or 0.
int code_of(std::string const& response) {
  if (!response.starts_with("HTTP/1.1 ") || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

std::string body_of(std::string const& response) {
  auto const at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string{} : response.substr(at + 4);
}

/// The pids of the workers a status document lists, or of those in `state` only.
std::set<int> worker_pids(std::string const& json, std::string const& state = "[a-z]+") {
  std::set<int> out;
  std::regex const re(R"(\{"id":\d+,"pid":(\d+),"state":")" + state + "\"");
  for (std::sregex_iterator i(json.begin(), json.end(), re), end; i != end; ++i)
    out.insert(std::stoi((*i)[1].str()));
  return out;
}

}  // namespace

TEST_CASE("GET /status is the status document; commands run only with the token") {
  workdir w;
  master_process m(admin_server(), w.env());
  REQUIRE(m.workers_connected(2));
  int const port = m.metrics_port();
  REQUIRE(port > 0);

  auto const status = http(port, "GET", "/status");
  REQUIRE(code_of(status) == 200);
  CHECK(status.find("Content-Type: application/json\r\n") != std::string::npos);
  auto const document = body_of(status);
  CHECK(document.starts_with("{\"master\":{\"pid\":" + std::to_string(m.pid()) + ","));
  CHECK(worker_pids(document).size() == 2);
  // The same document as the command line's.
  auto const cli = run_tool(CLUSTER_PLUGIN_SERVER, {"--json", "status"}, w.env());
  REQUIRE(cli.status == 0);
  CHECK(worker_pids(cli.out) == worker_pids(document));
  CHECK(code_of(http(port, "GET", "/metrics")) == 200);
  CHECK(code_of(http(port, "POST", "/status")) == 405);
  {
    // A command starts nothing of the server: configured with the metrics address the master
    // holds, it would fail to bind it if it tried.
    auto env = w.env();
    env["STATS_METRICS"] = "127.0.0.1:" + std::to_string(port);
    auto const again = run_tool(CLUSTER_PLUGIN_SERVER, {"status"}, env);
    CHECK(again.status == 0);
    CHECK(again.out.starts_with("master "));
    CHECK(again.err.find("metrics") == std::string::npos);
  }

  SECTION("a command without the token, or with a wrong one, is refused and logged") {
    auto const none = http(port, "POST", "/spawn", "1");
    CHECK(code_of(none) == 401);
    CHECK(none.find("WWW-Authenticate: Bearer\r\n") != std::string::npos);
    CHECK(body_of(none).find("\"ok\":false") != std::string::npos);
    CHECK(m.wait_line(
              R"(^cluster: control: refused spawn \(http 127\.0\.0\.1:\d+\): no valid token$)") >=
          0);
    std::string wrong = token;
    wrong.back() = 'w';
    CHECK(code_of(http(port, "POST", "/spawn", "1", bearer(wrong))) == 401);
    CHECK(code_of(http(port, "POST", "/spawn", "1", bearer(std::string(token) + "x"))) == 401);
    CHECK(code_of(http(port, "POST", "/spawn", "1", bearer(std::string(token).substr(1)))) == 401);
    CHECK(code_of(http(port, "POST", "/spawn", "1",
                       "Authorization: Basic " + std::string(token) + "\r\n")) == 401);
    CHECK(code_of(http(port, "GET", "/spawn")) == 405);
    CHECK(code_of(http(port, "POST", "/nothing", "", bearer())) == 404);
    CHECK(worker_pids(body_of(http(port, "GET", "/status"))).size() == 2);
  }

  SECTION("commands run with typed arguments; their errors are answers, not crashes") {
    auto const grown = http(port, "POST", "/spawn", "1", bearer());
    CHECK(code_of(grown) == 200);
    CHECK(
        body_of(grown) ==
        "{\"command\":\"spawn\",\"ok\":true,\"message\":\"1 worker(s) added\",\"progress\":[]}\n");
    CHECK(m.wait_line(R"(^cluster: control: spawn 1 \(http 127\.0\.0\.1:\d+\)$)") >= 0);
    REQUIRE(m.wait_line("worker_connected id=2") >= 0);
    CHECK(worker_pids(body_of(http(port, "GET", "/status"))).size() == 3);

    // Lower-case scheme, arguments on lines of their own.
    auto const hello = http(port, "POST", "/greet", "world\n",
                            "authorization: bearer " + std::string(token) + "\r\n");
    CHECK(code_of(hello) == 200);
    CHECK(body_of(hello).find("\"message\":\"hello world\"") != std::string::npos);

    auto const bad = http(port, "POST", "/spawn", "lots", bearer());
    CHECK(code_of(bad) == 409);
    CHECK(body_of(bad).find("\"error\":\"spawn takes a number of workers") != std::string::npos);
    CHECK(code_of(http(port, "POST", "/spawn", "", bearer())) == 400);
    CHECK(code_of(http(port, "POST", "/greet", "a b", bearer())) == 400);
    CHECK(code_of(http(port, "POST", "/kill", "9", bearer())) == 409);
  }

  SECTION("restart-workers answers once every worker is replaced") {
    auto const before = worker_pids(document);
    auto const rolled = http(port, "POST", "/restart-workers", "", bearer(), 60s);
    CHECK(code_of(rolled) == 200);
    CHECK(body_of(rolled).find("\"progress\":[\"replacing every worker, one at a time\"]") !=
          std::string::npos);
    // The replaced workers may still be finishing their requests: the ready ones are new.
    auto const after = worker_pids(body_of(http(port, "GET", "/status")), "ready");
    CHECK(after.size() == 2);
    for (int const pid : after) CHECK_FALSE(before.contains(pid));
  }

  SECTION("requests that misbehave are refused and the endpoint keeps answering") {
    CHECK(code_of(http(port, "POST", "/spawn", std::string(5000, '1'), bearer())) == 413);
    CHECK(code_of(http(port, "GET", "/status", "", "X-Big: " + std::string(9000, 'a') + "\r\n")) ==
          431);
    client garbage(port);
    garbage.send("\x01\x02 not http\r\n\r\n");
    CHECK(code_of(garbage.receive_all()) == 400);
    CHECK(code_of(http(port, "GET", "/status")) == 200);
  }

  SECTION("shutdown is accepted with 202 and the master exits") {
    auto const down = http(port, "POST", "/shutdown", "", bearer());
    CHECK(code_of(down) == 202);
    CHECK(body_of(down).find("\"message\":\"shutting down gracefully\"") != std::string::npos);
    CHECK(m.wait(15s) == std::optional<int>{0});
  }
}

TEST_CASE("restart over HTTP answers once the new master serves, which then serves the routes") {
  workdir w;
  master_process m(admin_server(), w.env());
  REQUIRE(m.workers_connected(2));
  int const port = m.metrics_port();
  REQUIRE(port > 0);
  auto const restarted = http(port, "POST", "/restart", "", bearer(), 60s);
  CHECK(code_of(restarted) == 200);
  CHECK(body_of(restarted).find("\"message\":\"the new master serves; the old one stops\"") !=
        std::string::npos);
  // The new master serves /status on its endpoint (port 0: a port of its own).
  int const line = m.wait_line(R"(^cluster: metrics on 127\.0\.0\.1:\d+$)", 20s,
                               static_cast<std::size_t>(m.wait_line("cluster: metrics on")) + 1);
  REQUIRE(line > 0);
  int const next = m.metrics_port(static_cast<std::size_t>(line));
  REQUIRE(next > 0);
  std::string document;
  auto const until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    auto const r = http(next, "GET", "/status", "", "", 2s);
    if (code_of(r) == 200 &&
        body_of(r).find("\"pid\":" + std::to_string(m.pid()) + ",") == std::string::npos) {
      document = body_of(r);
      break;
    }
    ::poll(nullptr, 0, 50);
  }
  CHECK_FALSE(document.empty());
  CHECK(worker_pids(document).size() == 2);
  // The new master, with its token read again, runs commands: shut it down.
  if (!document.empty()) {
    auto const down = http(next, "POST", "/shutdown", "", bearer());
    CHECK(code_of(down) == 202);
  }
}

TEST_CASE("without a token, commands over HTTP are off; a bad token file stops the start") {
  SECTION("no token: status answers, commands are refused") {
    workdir w;
    master_process m(admin_server(), w.env(false));
    REQUIRE(m.workers_connected(2));
    int const port = m.metrics_port();
    REQUIRE(port > 0);
    CHECK(code_of(http(port, "GET", "/status")) == 200);
    auto const off = http(port, "POST", "/spawn", "1", bearer());
    CHECK(code_of(off) == 403);
    CHECK(body_of(off).find("commands over HTTP are off") != std::string::npos);
  }
  auto const refused = [](workdir const& w, std::map<std::string, std::string> env,
                          std::string const& line) {
    master_process m(admin_server(), std::move(env));
    CHECK(m.wait(15s) == std::optional<int>{1});
    CHECK(m.count(line) == 1);
    CHECK(m.count("worker_connected") == 0);
    // Neither master.pid (written before the cli plugin refused) nor the control socket stays.
    CHECK_FALSE(fs::exists(w.pids / "cluster.sock"));
    CHECK(fs::is_empty(w.pids));
  };
  SECTION("the port in use: the control socket, opened before the listener failed, goes too") {
    workdir w;
    listening_socket const held;  // a port another program holds
    auto env = w.env();
    env["PORT"] = std::to_string(held.port);
    refused(w, env, "^cluster: cannot listen on 127.0.0.1:" + env["PORT"] + ": ");
  }
  SECTION("a token file others may read") {
    workdir w(token, 0644);
    refused(
        w, w.env(),
        R"(^cluster: cli: the HTTP token file .*admin\.token may be read by other users \(mode 644\); chmod 600 it$)");
  }
  SECTION("a token too short to be a secret") {
    workdir w("short");
    refused(
        w, w.env(),
        R"(^cluster: cli: the HTTP token file .* holds a token of 5 characters; use 16 or more)");
  }
  SECTION("a token with no endpoint to use it") {
    workdir w;
    auto env = w.env();
    env["STATS_METRICS"] = "off";
    refused(w, env, R"(^cluster: cli: http_token_file\(\) needs an HTTP endpoint)");
  }
}
