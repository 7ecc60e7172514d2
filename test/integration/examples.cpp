// SPDX-License-Identifier: BSL-1.0
// Each example runs briefly: it starts, does what its banner says, and stops on a signal.
#include "../support/temp_dir.hpp"
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <utility>

using namespace cluster::testing;

namespace {

// hello's banner: "Hello World", a slow page and a 404, then a graceful stop.
void check_hello(std::string const& path) {
  master_process m(program{{path}}, {{"PORT", "0"}, {"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(port > 0);
  CHECK(http_get(port, "/").find("Hello World") != std::string::npos);
  CHECK(http_get(port, "/slow?ms=50").find("Hello World") != std::string::npos);
  CHECK(http_get(port, "/nope").find("404 Not Found") != std::string::npos);
  m.signal(SIGQUIT);
  CHECK(m.wait(10s) == 0);
}

}  // namespace

TEST_CASE("hello answers Hello World and /slow, then stops gracefully") {
  check_hello(CLUSTER_EXAMPLE_HELLO);
}

#ifdef CLUSTER_EXAMPLE_HELLO_COMPILED
TEST_CASE("hello built against cluster::compiled serves the same") {
  check_hello(CLUSTER_EXAMPLE_HELLO_COMPILED);
}
#endif

TEST_CASE("echo echoes") {
  master_process m(program{{CLUSTER_EXAMPLE_ECHO}}, {{"PORT", "0"}, {"WEB_CONCURRENCY", "1"}});
  client c(m.port());
  c.send("ping\n");
  CHECK(c.receive([](std::string const& s) { return s.size() >= 5; }) == "ping\n");
  m.signal(SIGTERM);
  CHECK(m.wait(10s) == 0);
}

TEST_CASE("echo ends its connections on SIGQUIT, and the master exits without a timeout") {
  master_process m(program{{CLUSTER_EXAMPLE_ECHO}}, {{"PORT", "0"}, {"WEB_CONCURRENCY", "1"}});
  client c(m.port());
  c.send("ping\n");
  REQUIRE(c.receive([](std::string const& s) { return s.size() >= 5; }) == "ping\n");
  m.signal(SIGQUIT);
  // Messages are echoed until the worker takes the stop; it answers the next one and closes.
  CHECK(wait_until([&] {
    try {
      c.send("more\n");
    } catch (std::exception const&) {
      return true;
    }
    return c.receive([](std::string const& s) { return s.size() >= 5; }, 1s).empty();
  }));
  // The default timeout is 60 s: exiting well before it means no worker was killed.
  CHECK(m.wait(10s) == 0);
}

TEST_CASE("jobs runs its workers and drains them on SIGQUIT") {
  master_process m(program{{CLUSTER_EXAMPLE_JOBS}}, {{"WEB_CONCURRENCY", "2"}});
  REQUIRE(m.wait_line("worker 0 .* waiting for jobs") >= 0);
  REQUIRE(m.wait_line("worker 1 .* waiting for jobs") >= 0);
  m.signal(SIGQUIT);
  CHECK(m.wait(10s) == 0);
  CHECK(m.count("stopping after") == 2);
}

TEST_CASE("custom_plugin's death alarm fires when a worker dies more than twice in 10 s") {
  temp_dir dir("cluster-custom-plugin");
  std::filesystem::create_directory(dir.path() / "pids");
  master_process m(program{{CLUSTER_EXAMPLE_CUSTOM_PLUGIN, dir.path().string()}},
                   {{"PORT", "0"}, {"WEB_CONCURRENCY", "2"}});
  REQUIRE(m.port() > 0);
  // The workers' pids, from the pidfiles plugin the alarm requires.
  auto const pid_of = [&](std::string const& file) {
    std::string const text = read_small_file((dir.path() / "pids" / file).string());
    return text.empty() ? 0 : std::atoi(text.c_str());
  };
  auto const alarm = [&] { return read_small_file((dir.path() / "alarm.log").string()); };
  // "alarm deaths" is 2: the third death of worker 0 fires the alarm, once.
  REQUIRE(wait_until([&] { return pid_of("worker.0.pid") > 0; }));
  for (int death = 1; death <= 3; ++death) {
    int const victim = pid_of("worker.0.pid");
    REQUIRE(alive(victim));
    ::kill(victim, SIGKILL);
    REQUIRE(wait_until([&] {
      int const now = pid_of("worker.0.pid");
      return now != victim && now > 0 && alive(now);
    }));
    if (death < 3) CHECK(alarm().empty());
  }
  REQUIRE(wait_until([&] { return !alarm().empty(); }));
  std::string const line = alarm();
  INFO(line);
  CHECK(std::regex_search(
      line,
      std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ death alarm: worker 0 died 3 times within )"
                 R"(10000 ms \(last: SIGKILL, pid \d+\); master )" +
                 std::to_string(m.pid()) + " \\(" + (dir.path() / "pids").string() +
                 R"(/master\.pid\)\n$)")));
  m.signal(SIGQUIT);
  CHECK(m.wait(10s) == 0);
  CHECK(std::filesystem::is_empty(dir.path() / "pids"));
}

TEST_CASE("examples print Usage on bad arguments") {
  master_process m(program{{CLUSTER_EXAMPLE_HELLO, "--bogus"}}, {});
  CHECK(m.wait(10s) == 2);
  CHECK(m.wait_line("^Usage: ", 1s) >= 0);
}

TEST_CASE("control answers its own scale command and the built-in ones") {
  temp_dir dir("cluster-control");
  std::string const pids = (dir.path() / "pids").string();
  std::filesystem::create_directory(pids);
  master_process m(program{{CLUSTER_EXAMPLE_CONTROL}}, {{"PORT", "0"}, {"CONTROL_PIDS", pids}});
  REQUIRE(m.port() > 0);
  REQUIRE(wait_until([&] { return std::filesystem::exists(pids + "/cluster.sock"); }));
  // The tool is the same program, run with a command; its output comes back through a file.
  auto const run = [&](std::string const& args) {
    std::string const out = (dir.path() / "out").string();
    std::string const command =
        "CONTROL_PIDS=" + pids + " " + CLUSTER_EXAMPLE_CONTROL + " " + args + " >" + out + " 2>&1";
    int const status = std::system(command.c_str());
    return std::pair{WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_small_file(out)};
  };
  auto const [scaled, said] = run("scale 3");
  CHECK(scaled == 0);
  CHECK(said == "workers: 2 -> 3\n");
  REQUIRE(wait_until(
      [&] { return run("--json status").second.find("\"id\":2") != std::string::npos; }));
  auto const [refused, why] = run("scale 0");
  CHECK(refused == 1);
  CHECK(why == "cluster: scale: scale takes 1 to 64 workers\n");
  CHECK(run("scale many").first == 1);
  CHECK(run("--help").second.find("scale N") != std::string::npos);
  // The same command in the console, fed from a file.
  std::string const input = (dir.path() / "in").string();
  { std::ofstream(input) << "scale(2)\nscale(zero)\nquit\n"; }
  auto const [consoled, console_said] = run("console <" + input);
  CHECK(consoled == 0);
  CHECK(console_said.find("cluster> workers: 3 -> 2\ncluster> error: argument 1 must be a whole "
                          "number (0 or more), not 'zero'\ncluster> bye\n") != std::string::npos);
  CHECK(run("shutdown").first == 0);
  CHECK(m.wait(1s) == 0);
}
