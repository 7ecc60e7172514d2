// SPDX-License-Identifier: BSL-1.0
// The server kinds end to end: a TCP coroutine server, an abstract job, a preloaded lambda job.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

using namespace cluster::testing;

TEST_CASE("a TCP server echoes on each worker") {
  master_process m("echo", {{"WEB_CONCURRENCY", "2"}});
  client c(m.port());
  c.send("hello cluster\n");
  CHECK(c.receive([](std::string const& s) { return s.size() >= 14; }) == "hello cluster\n");
}

TEST_CASE("a job runs in every worker with its id") {
  master_process m("job", {{"WEB_CONCURRENCY", "3"}});
  for (int id = 0; id < 3; ++id) CHECK(m.wait_line("job " + std::to_string(id) + " running") >= 0);
  CHECK(m.count("cluster: listening") == 0);
}

TEST_CASE("cluster::job turns a lambda built in the master into an abstract server") {
  master_process m("lambda", {{"WEB_CONCURRENCY", "2"}});
  CHECK(m.wait_line("lambda job in worker 0") >= 0);
  CHECK(m.wait_line("lambda job in worker 1") >= 0);
}
