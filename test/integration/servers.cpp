// SPDX-License-Identifier: BSL-1.0
// The server kinds end to end: a TCP coroutine server, an abstract job, preloaded lambda jobs.
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

TEST_CASE("a const configuration built around a server object runs it in every worker") {
  master_process m("const-lambda");
  CHECK(m.wait_line("const lambda job in worker 0") >= 0);
  CHECK(m.wait_line("const lambda job in worker 1") >= 0);
}

TEST_CASE("an asynchronous HTTP handler does not hold its worker while it waits") {
  master_process m("async", {{"WEB_CONCURRENCY", "1"}});
  int const port = m.port();
  client slow(port);
  slow.send("GET /?ms=2000 HTTP/1.1\r\nHost: test\r\n\r\n");
  REQUIRE(m.wait_line("async slow request started") >= 0);
  // The only worker answers a second request while the first one waits.
  auto const start = clock::now();
  CHECK(http_get(port, "/").find("async pid=") != std::string::npos);
  CHECK(clock::now() - start < 1500ms);
  CHECK(slow.receive([](std::string const& s) { return s.find("async pid=") != std::string::npos; })
            .find("200 OK") != std::string::npos);
}

TEST_CASE("HTTP connections that idle or send slowly are closed after their timeouts") {
  master_process m("impatient", {{"WEB_CONCURRENCY", "1"}});
  int const port = m.port();
  SECTION("idle after a response, beyond keep_alive_timeout") {
    client c(port);
    c.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    std::string const r =
        c.receive([](std::string const& s) { return s.find("worker=") != std::string::npos; });
    REQUIRE(r.find("200 OK") != std::string::npos);
    auto const start = clock::now();
    CHECK(c.receive_all(5s) == "");  // closed by the server, without another response
    CHECK(clock::now() - start < 2s);
  }
  SECTION("a request that never completes, beyond request_timeout") {
    client c(port);
    c.send("GET / HTTP/1.1\r\nHost: te");
    auto const start = clock::now();
    CHECK(c.receive_all(5s) == "");
    CHECK(clock::now() - start < 2s);
  }
  SECTION("a connection that stays within the timeouts is served") {
    client c(port);
    c.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    CHECK(c.receive([](std::string const& s) {
             return s.find("worker=") != std::string::npos;
           }).find("200 OK") != std::string::npos);
  }
}

TEST_CASE("HTTP requests pipelined or split across reads are each answered once") {
  master_process m("http", {{"WEB_CONCURRENCY", "1"}});
  client c(m.port());
  auto const answers = [](std::size_t n) {
    return [n](std::string const& s) {
      std::size_t found = 0;
      for (auto at = s.find("worker="); at != std::string::npos; at = s.find("worker=", at + 1))
        ++found;
      return found >= n && s.back() == '\n';
    };
  };
  SECTION("two requests in one segment") {
    c.send("GET / HTTP/1.1\r\nHost: test\r\n\r\nGET / HTTP/1.1\r\nHost: test\r\n\r\n");
    std::string const r = c.receive(answers(2));
    CHECK(r.find("200 OK") != std::string::npos);
    CHECK(r.find("200 OK", r.find("200 OK") + 1) != std::string::npos);
  }
  SECTION("a header, then its body, then a request split inside the header") {
    c.send("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n12345");
    c.send("67890");
    CHECK(c.receive(answers(1)).find("200 OK") != std::string::npos);
    c.send("GET / HTTP/1.1\r\nHo");
    c.send("st: test\r\n\r\n");
    CHECK(c.receive(answers(1)).find("200 OK") != std::string::npos);
  }
}

TEST_CASE("bytes that are not HTTP are answered 400, a head too large 431; the worker serves on") {
  master_process m("http", {{"WEB_CONCURRENCY", "1"}});
  int const port = m.port();
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  int const worker = m.worker_pid(0);
  auto const refused = [&](std::string const& bytes) {
    client c(port);
    c.send(bytes);
    return c.receive_all();
  };
  std::string const garbage = refused(std::string("garbage\0\xff\r\n\r\n", 13));
  CHECK(garbage.starts_with("HTTP/1.1 400 Bad Request\r\n"));
  CHECK(garbage.find("Connection: close\r\n") != std::string::npos);
  std::string const bad_version = refused("GET / HTTP/9.9\r\nHost: test\r\n\r\n");
  CHECK(bad_version.starts_with("HTTP/1.1 400 Bad Request\r\n"));
  std::string const huge_head =
      refused("GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  CHECK(huge_head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
  CHECK(m.worker_pid(0) == worker);
  CHECK(m.count("worker_killed") == 0);
}
