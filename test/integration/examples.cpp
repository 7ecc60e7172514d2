// SPDX-License-Identifier: BSL-1.0
// Each example runs briefly: it starts, does what its banner says, and stops on a signal.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

using namespace cluster::testing;

TEST_CASE("hello answers Hello World and /slow, then stops gracefully") {
  master_process m(program{{CLUSTER_EXAMPLE_HELLO}}, {{"PORT", "0"}, {"WEB_CONCURRENCY", "2"}});
  int const port = m.port();
  REQUIRE(port > 0);
  CHECK(http_get(port, "/").find("Hello World") != std::string::npos);
  CHECK(http_get(port, "/slow?ms=50").find("Hello World") != std::string::npos);
  CHECK(http_get(port, "/nope").find("404 Not Found") != std::string::npos);
  m.signal(SIGQUIT);
  CHECK(m.wait(10s) == 0);
}

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

TEST_CASE("examples print Usage on bad arguments") {
  master_process m(program{{CLUSTER_EXAMPLE_HELLO, "--bogus"}}, {});
  CHECK(m.wait(10s) == 2);
  CHECK(m.wait_line("^Usage: ", 1s) >= 0);
}
