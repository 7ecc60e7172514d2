// SPDX-License-Identifier: BSL-1.0
// The load generator counts exactly: all ok against a healthy master, failures when it dies.
#include "support/load.hpp"
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace cluster::testing;

TEST_CASE("every request to a healthy master is counted ok, and only once") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(port > 0);
  load_process load(
      {"--port", std::to_string(port), "--connections", "8", "--max-requests", "2000"});
  auto const s = load.finish(60s);
  REQUIRE(s);
  CHECK(load.exit_status() == 0);
  CHECK(s->requests == 2000);
  CHECK(s->ok == 2000);
  CHECK(s->failures() == 0);
  CHECK(s->p50_us > 0);
  CHECK(s->p50_us <= s->p99_us);
  CHECK(s->p99_us <= s->max_us);
}

TEST_CASE("a connection the server closes while idle is reopened, and nothing counts as lost") {
  // The impatient server closes keep-alive connections idle for 200 ms; at 2 requests/s per
  // connection, every request after the first finds its connection closed by the server.
  master_process m("impatient", {{"WEB_CONCURRENCY", "1"}});
  int const port = m.port();
  REQUIRE(port > 0);
  load_process load({"--port", std::to_string(port), "--connections", "4", "--rate", "8",
                     "--max-requests", "12"});
  auto const s = load.finish(30s);
  REQUIRE(s);
  CHECK(s->ok == 12);
  CHECK(s->failures() == 0);
}

TEST_CASE("a master killed under load shows up as failed requests") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(port > 0);
  load_process load({"--port", std::to_string(port), "--connections", "20", "--max-seconds", "60",
                     "--timeout-ms", "2000"});
  REQUIRE(load.wait_running());
  auto const before = load.progress();
  REQUIRE(before);
  CHECK(before->failures() == 0);
  // The workers follow their master (SIGTERM on its death): connections in use are reset, and
  // new ones are refused.
  m.signal(SIGKILL);
  REQUIRE(m.wait(10s));
  std::optional<load_summary> during;
  REQUIRE(wait_until(
      [&] {
        during = load.progress();
        return during && during->connect_errors > 0;
      },
      10s));
  auto const s = load.stop();
  REQUIRE(s);
  CHECK(load.exit_status() == 0);
  CHECK(s->ok >= before->ok);
  CHECK(s->connect_errors + s->lost + s->fresh_failed > 0);
  CHECK(s->requests == s->ok + s->non200 + s->connect_errors + s->lost + s->fresh_failed);
}

TEST_CASE("bad arguments print the usage and exit 2") {
  load_process load({"--connections", "many"});
  auto const s = load.finish(10s);
  CHECK_FALSE(s);
  CHECK(load.exit_status() == 2);
}
