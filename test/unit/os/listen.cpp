// SPDX-License-Identifier: BSL-1.0
// Binding listeners: port 0, a port in use, bad hosts and paths give one plain line.
#include <cluster/os/listen.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace cluster;

TEST_CASE("port 0 binds a kernel-chosen port and names it") {
  os::listener l = os::bind_listener({endpoint::kind::tcp, 0, "127.0.0.1"}, 16);
  REQUIRE(l.fd);
  CHECK(l.family == AF_INET);
  CHECK(l.name.starts_with("127.0.0.1:"));
  CHECK(l.name != "127.0.0.1:0");
  SECTION("binding the same port again is a one-line error") {
    auto const port = static_cast<std::uint16_t>(std::stoi(l.name.substr(10)));
    CHECK_THROWS_WITH(os::bind_listener({endpoint::kind::tcp, port, "127.0.0.1"}, 16),
                      "cluster: cannot listen on 127.0.0.1:" + std::to_string(port) +
                          ": the port is in use; stop the other server or choose another port");
  }
}

TEST_CASE("IPv6 loopback is named in brackets") {
  try {
    os::listener l = os::bind_listener({endpoint::kind::tcp, 0, "::1"}, 16);
    CHECK(l.name.starts_with("[::1]:"));
  } catch (startup_error const&) {
    WARN("no IPv6 loopback on this machine");
  }
}

TEST_CASE("listener descriptors are close-on-exec") {
  os::listener l = os::bind_listener({endpoint::kind::tcp, 0, "127.0.0.1"}, 16);
  CHECK((::fcntl(l.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("listen_tcp reports the call that failed, and leaves the wording to its caller") {
  os::listener taken = os::bind_listener({endpoint::kind::tcp, 0, "127.0.0.1"}, 16);
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(taken.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  os::tcp_listening again = os::listen_tcp(reinterpret_cast<sockaddr*>(&addr), len, {});
  CHECK_FALSE(again.fd);
  CHECK(std::string(again.failed) == "bind");
  CHECK(again.error == EADDRINUSE);
  SECTION("a free port gives a listening, close-on-exec socket, non-blocking on request") {
    reinterpret_cast<sockaddr_in&>(addr).sin_port = 0;
    os::tcp_listening fresh =
        os::listen_tcp(reinterpret_cast<sockaddr*>(&addr), len, {.nonblocking = true});
    REQUIRE(fresh.fd);
    CHECK(fresh.failed == nullptr);
    CHECK((::fcntl(fresh.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(fresh.fd.get(), F_GETFL) & O_NONBLOCK) != 0);
  }
}

TEST_CASE("a unix socket path that is too long is rejected") {
  CHECK_THROWS_WITH(os::bind_listener({endpoint::kind::unix_socket, 0, std::string(200, 'a')}, 16),
                    Catch::Contains("the path must be 1 to"));
}

TEST_CASE("LISTEN_FDS meant for another process is ignored, and cleared either way") {
  ::setenv("LISTEN_PID", "1", 1);
  ::setenv("LISTEN_FDS", "1", 1);
  CHECK(os::inherited_listeners().empty());
  CHECK(std::getenv("LISTEN_PID") == nullptr);
  CHECK(std::getenv("LISTEN_FDS") == nullptr);
  CHECK(os::inherited_listeners().empty());  // nothing passed at all
}

TEST_CASE("an inherited descriptor that is not a listening socket is a one-line error") {
  if (::fcntl(3, F_GETFD) != -1) {
    WARN("descriptor 3 is taken by the test runner; case skipped");
    return;
  }
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::dup2(fds[0], 3) == 3);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDS", "1", 1);
  CHECK_THROWS_WITH(os::inherited_listeners(),
                    Catch::StartsWith("cluster: inherited descriptor 3 (LISTEN_FDS) is not a "
                                      "listening socket"));
  ::close(3);
  ::close(fds[0]);
  ::close(fds[1]);
}
