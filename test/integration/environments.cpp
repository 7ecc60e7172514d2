// SPDX-License-Identifier: BSL-1.0
// CLUSTER_ENV picks one branch of the configuration at start-up: the envs example, run for real.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace cluster::testing;

namespace {

/// Asks `port` until `count` distinct worker pids have answered; the pids seen.
std::set<std::string> answering_pids(int port, std::size_t count, std::string const& env) {
  std::set<std::string> pids;
  std::regex const re("Hello from " + env + R"( \(worker \d+, pid (\d+)\))");
  wait_until([&] {
    std::smatch m;
    std::string const response = http_get(port, "/");
    if (std::regex_search(response, m, re)) pids.insert(m[1].str());
    return pids.size() >= count;
  });
  return pids;
}

}  // namespace

TEST_CASE("without CLUSTER_ENV the development branch runs") {
  master_process m(program{{CLUSTER_EXAMPLE_ENVS}}, {{"PORT", "0"}});
  REQUIRE(m.wait_line("^envs: development, 1 workers, timeout 5000 ms$") >= 0);
  int const port = m.port();
  REQUIRE(port > 0);
  CHECK(answering_pids(port, 1, "development").size() == 1);
  m.signal(SIGTERM);
  CHECK(m.wait(10s).has_value());
}

TEST_CASE("CLUSTER_ENV=production runs the production branch, with its own overrides") {
  master_process m(program{{CLUSTER_EXAMPLE_ENVS}},
                   {{"CLUSTER_ENV", "production"}, {"PORT", "0"}, {"WEB_CONCURRENCY", "3"}});
  // timeout is 5000 for all environments and 30000 in production: the branch wins.
  REQUIRE(m.wait_line("^envs: production, 3 workers, timeout 30000 ms$") >= 0);
  int const port = m.port();
  REQUIRE(port > 0);
  CHECK(answering_pids(port, 3, "production").size() == 3);
  m.signal(SIGQUIT);
  CHECK(m.wait(10s) == 0);
}

TEST_CASE("an environment with no branch and nothing to listen on stops before forking") {
  master_process m(program{{CLUSTER_EXAMPLE_ENVS}}, {{"CLUSTER_ENV", "staging"}});
  CHECK(m.wait(10s) == 1);
  CHECK(m.wait_line("^cluster: environment \"staging\" \\(CLUSTER_ENV\\) matches no branch and "
                    "leaves nothing to listen on; known environments: development, production$",
                    1s) >= 0);
  CHECK(m.lines().size() == 1);  // that line alone: nothing was bound, no worker started
}

TEST_CASE("a runtime value out of range stops start-up with one line") {
  master_process m(program{{CLUSTER_EXAMPLE_ENVS}},
                   {{"CLUSTER_ENV", "production"}, {"WEB_CONCURRENCY", "0"}});
  CHECK(m.wait(10s) == 1);
  CHECK(m.wait_line("^cluster: \\.set<\"workers\">\\(cluster::runtime\\(\\.\\.\\.\\)\\) expects a "
                    "count of at least 1$",
                    1s) >= 0);
  CHECK(m.lines().size() == 1);
}

TEST_CASE("a runtime port out of range stops start-up with one line") {
  master_process m(program{{CLUSTER_EXAMPLE_ENVS}}, {{"PORT", "70000"}});
  CHECK(m.wait(10s) == 1);
  CHECK(m.wait_line("^cluster: \\.listen\\(cluster::runtime\\(70000\\)\\) is not a port", 1s) >= 0);
  CHECK(m.lines().size() == 1);
}
