// SPDX-License-Identifier: BSL-1.0
// cluster::debug: one line per master event on stderr, coloured only on a terminal or on demand.
#include "../support/harness.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace cluster::testing;

namespace {

program debug_server() { return program{{CLUSTER_PLUGIN_SERVER}}; }

/// True when any line so far holds an ANSI escape sequence.
bool any_escape(master_process& m) {
  for (auto const& line : m.lines())
    if (line.find("\x1b[") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("debug tells the boot, a worker's death and its replacement, and a graceful shutdown") {
  master_process m(debug_server(), {{"WEB_CONCURRENCY", "2"}});
  REQUIRE(m.wait_line(R"(^info - starting \(pid \d+, environment development\)$)") >= 0);
  REQUIRE(m.wait_line(R"(^info - listening on 127\.0\.0\.1:\d+$)") >= 0);
  std::string const first = m.capture(R"(^info - worker 0 spawned \(pid (\d+)\)$)");
  REQUIRE_FALSE(first.empty());
  REQUIRE(m.wait_line(R"(^info - worker 1 spawned \(pid \d+\)$)") >= 0);
  REQUIRE(m.wait_line("^info - worker 0 connected$") >= 0);
  REQUIRE(m.wait_line("^info - worker 1 connected$") >= 0);
  REQUIRE(m.wait_line(R"(^info - ready: every worker accepts \(2\)$)") >= 0);
  REQUIRE(http_get(m.port(), "/").find("200 OK") != std::string::npos);

  ::kill(std::stoi(first), SIGKILL);
  int const died =
      m.wait_line("^warning - worker 0 \\(pid " + first + "\\) crashed: killed by SIGKILL$");
  REQUIRE(died >= 0);
  // Replaced at once, with the same id.
  std::string const second =
      m.capture(R"(^info - worker 0 spawned \(pid (\d+)\)$)", 10s, static_cast<std::size_t>(died));
  REQUIRE_FALSE(second.empty());
  CHECK(second != first);
  CHECK(m.wait_line("^info - worker 0 connected$", 10s, static_cast<std::size_t>(died)) >= 0);

  m.signal(SIGQUIT);
  int const closing = m.wait_line(R"(^info - closing \(graceful\)$)");
  REQUIRE(closing >= 0);
  CHECK(m.wait_line("^info - shutdown complete$", 10s, static_cast<std::size_t>(closing)) >= 0);
  CHECK(m.wait(10s) == 0);
  // Workers that stop on request exit normally: no warning for them.
  CHECK(m.count("^warning - ") == 1);
  CHECK(
      m.count(R"(^info - worker \d \(pid \d+\) stopped by the shutdown: exited with status 0$)") ==
      2);
  // Ready once: a replaced worker does not make the service ready again.
  CHECK(m.count("^info - ready: ") == 1);
  // Stderr is a pipe here: no colour.
  CHECK_FALSE(any_escape(m));
}

TEST_CASE("debug prints hard shutdowns and kills at the levels they deserve") {
  master_process m(debug_server(), {{"WEB_CONCURRENCY", "1"}});
  REQUIRE(m.wait_line("^info - worker 0 connected$") >= 0);
  m.signal(SIGTERM);
  int const closing = m.wait_line(R"(^warning - closing \(hard\)$)");
  REQUIRE(closing >= 0);
  CHECK(m.wait_line(R"(^info - kill: SIGKILL to every worker$)", 10s,
                    static_cast<std::size_t>(closing)) >= 0);
  // Killed as asked during a shutdown: an info line, not a warning.
  CHECK(m.wait_line(R"(^info - worker 0 \(pid \d+\) stopped by the shutdown: killed by SIGKILL$)",
                    10s, static_cast<std::size_t>(closing)) >= 0);
  CHECK(m.wait_line("^info - shutdown complete$") >= 0);
  CHECK(m.wait(10s) == 0);
  CHECK(m.count("^warning - ") == 1);
}

TEST_CASE("debug words the master's decisions: rolling restart, removal") {
  master_process m(debug_server(), {{"WEB_CONCURRENCY", "2"}});
  REQUIRE(m.wait_line(R"(^info - ready: every worker accepts \(2\)$)") >= 0);
  m.signal(SIGHUP);
  int const started = m.wait_line("^info - rolling restart: started$");
  REQUIRE(started >= 0);
  auto const after = static_cast<std::size_t>(started);
  CHECK(m.wait_line("^info - rolling restart: done, 2 workers replaced$", 20s, after) >= 0);
  // The old workers were stopped on purpose, and each says so once it has exited.
  std::string const stopped =
      R"(^info - worker \d \(pid \d+\) stopped for a rolling restart: exited with status 0$)";
  int const first = m.wait_line(stopped, 20s, after);
  REQUIRE(first >= 0);
  REQUIRE(m.wait_line(stopped, 20s, static_cast<std::size_t>(first) + 1) >= 0);
  m.signal(SIGTTOU);
  CHECK(m.wait_line(R"(^info - worker 1 \(pid \d+\) removed: exited with status 0$)") >= 0);
  CHECK(m.wait_line(R"(^info - worker 1 removed \(pid \d+\)$)") >= 0);
  m.signal(SIGQUIT);
  CHECK(m.wait(10s) == 0);
  CHECK(m.count(stopped) == 2);
  CHECK(m.count("^warning - ") == 0);
  CHECK(m.count("^error - ") == 0);
}

TEST_CASE("debug with colors::always colours the levels, and only them") {
  master_process m(debug_server(), {{"WEB_CONCURRENCY", "1"}, {"CLUSTER_TEST_COLORS", "always"}});
  // The level word is wrapped in escapes; the text after it is plain.
  REQUIRE(m.wait_line("^(\x1b\\[[0-9;]*m)+info\x1b\\[0m - worker 0 connected$") >= 0);
  CHECK(any_escape(m));
  m.signal(SIGQUIT);
  CHECK(m.wait_line("^(\x1b\\[[0-9;]*m)+info\x1b\\[0m - shutdown complete$") >= 0);
  CHECK(m.wait(10s) == 0);
  CHECK(m.count("warning") == 0);
  // The master's own lines are not the plugin's to colour.
  CHECK(m.count("^cluster: listening on 127\\.0\\.0\\.1:\\d+$") == 1);
}

TEST_CASE("debug with colors::never stays plain") {
  master_process m(debug_server(), {{"WEB_CONCURRENCY", "1"}, {"CLUSTER_TEST_COLORS", "never"}});
  REQUIRE(m.wait_line("^info - worker 0 connected$") >= 0);
  m.signal(SIGQUIT);
  CHECK(m.wait(10s) == 0);
  CHECK_FALSE(any_escape(m));
}
