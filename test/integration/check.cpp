// SPDX-License-Identifier: BSL-1.0
// CLUSTER_CHECK=1: the configuration checked as start-up would check it, with nothing bound,
// written or forked, so that a new build can be checked while the old one serves.
#include "support/harness.hpp"

#include <cluster/os/check.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <string>

using namespace cluster::testing;

TEST_CASE("a configuration check says OK and starts nothing, even on a port a master serves") {
  master_process serving("http", {{"WEB_CONCURRENCY", "1"}});
  int const port = serving.port();
  REQUIRE(serving.workers_connected(1));
  master_process check("http", {{"CLUSTER_CHECK", "1"}, {"PORT", std::to_string(port)}});
  REQUIRE(check.wait(10s) == 0);
  // One line, and none of the master's events: no plugin was told anything.
  REQUIRE(check.wait_line("configuration OK", 1s) == 0);
  CHECK(check.lines().size() == 1);
  CHECK(check.lines()[0] ==
        "cluster: configuration OK: environment test, 2 workers, listening on "
        "127.0.0.1:" +
            std::to_string(port) + "; nothing was bound or started");
  // The serving master is untouched.
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
  CHECK(serving.count("worker_spawned") == 1);
}

TEST_CASE("a configuration check reports what start-up would refuse: one line, status 1") {
  struct bad {
    std::map<std::string, std::string> env;
    std::string line;
  };
  bad const cases[] = {
      {{{"HOST", "no-such-host.invalid"}},
       "cluster: cannot listen on no-such-host.invalid:0: unknown host 'no-such-host.invalid'"},
      {{{"CLUSTER_TEST_UNIX", "/no/such/directory/app.sock"}},
       "cluster: cannot listen on unix socket /no/such/directory/app.sock: the directory "
       "/no/such/directory does not exist; create it or choose another path"},
      {{{"CLUSTER_TEST_USER", "no-such-user-here"}},
       "cluster: unknown user 'no-such-user-here' in set<\"user\">"},
  };
  for (auto const& c : cases) {
    auto env = c.env;
    env["CLUSTER_CHECK"] = "1";
    master_process check("http", env);
    REQUIRE(check.wait(20s) == 1);
    REQUIRE(check.wait_line("^cluster: ", 1s) == 0);
    CHECK(check.lines().size() == 1);
    CHECK(check.lines()[0].starts_with(c.line));
  }
  // Through the builder: the settings that contradict each other, before anything else.
  master_process relation("builder", {{"CLUSTER_CHECK", "1"},
                                      {"CLUSTER_TEST_DEADLINE_MS", "5000"},
                                      {"CLUSTER_TEST_TIMEOUT_MS", "3000"}});
  REQUIRE(relation.wait(10s) == 1);
  REQUIRE(relation.wait_line("^cluster: the request deadline", 1s) == 0);
  CHECK(relation.lines().size() == 1);
  // Its good twin is OK.
  master_process good("builder", {{"CLUSTER_CHECK", "1"}, {"CLUSTER_TEST_DEADLINE_MS", "2000"}});
  REQUIRE(good.wait(10s) == 0);
  CHECK(good.wait_line(R"(^cluster: configuration OK: environment development, 2 workers, )"
                       R"(listening on 127\.0\.0\.1:0; nothing was bound or started$)",
                       1s) == 0);
}

TEST_CASE("a build's check run from a master's side: its verdict and its reason") {
  auto const ok =
      cluster::os::run_check(CLUSTER_TEST_SERVER, {CLUSTER_TEST_SERVER, "http"}, "", 10s);
  CHECK(ok.ok());
  CHECK(ok.line.starts_with("cluster: configuration OK: environment test, "));
  ::setenv("CLUSTER_TEST_DEADLINE_MS", "5000", 1);
  ::setenv("CLUSTER_TEST_TIMEOUT_MS", "3000", 1);
  auto const bad =
      cluster::os::run_check(CLUSTER_TEST_SERVER, {CLUSTER_TEST_SERVER, "builder"}, "", 10s);
  ::unsetenv("CLUSTER_TEST_DEADLINE_MS");
  ::unsetenv("CLUSTER_TEST_TIMEOUT_MS");
  CHECK(bad.status == 1);
  CHECK(bad.line.starts_with("cluster: the request deadline (5000 ms) is not below timeout"));
}
