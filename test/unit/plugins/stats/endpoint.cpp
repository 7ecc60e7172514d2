// SPDX-License-Identifier: BSL-1.0
// The stats plugin's metrics endpoint: the addresses it takes and the answers it gives.
#include <cluster/plugins/stats/endpoint.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <string>

namespace st = cluster::detail::statistics;

TEST_CASE("metrics addresses are host:port with a numeric host") {
  auto a = st::metrics_address::parse("127.0.0.1:9100");
  REQUIRE(a);
  CHECK(a->port == 9100);
  CHECK(a->text(9100) == "127.0.0.1:9100");
  auto b = st::metrics_address::parse("[::1]:0");
  REQUIRE(b);
  CHECK(b->v6);
  CHECK(b->text(5) == "[::1]:5");
  CHECK_FALSE(st::metrics_address::parse("9100"));
  CHECK_FALSE(st::metrics_address::parse("127.0.0.1:"));
  CHECK_FALSE(st::metrics_address::parse("127.0.0.1:65536"));
  CHECK_FALSE(st::metrics_address::parse("127.0.0.1:91x"));
  CHECK_FALSE(st::metrics_address::parse("localhost:9100"));
  CHECK_FALSE(st::metrics_address::parse("::1:9100"));
}

TEST_CASE("the endpoint answers GET /metrics and nothing else") {
  std::function<std::string()> const body = [] { return std::string("x 1\n"); };
  auto const ok = st::answer_to("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", body);
  CHECK(ok.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(ok.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  CHECK(ok.find("Content-Length: 4\r\n") != std::string::npos);
  CHECK(ok.ends_with("\r\n\r\nx 1\n"));
  CHECK(st::answer_to("GET /metrics?x=1 HTTP/1.0\r\n\r\n", body).starts_with("HTTP/1.1 200"));
  auto const head = st::answer_to("HEAD /metrics HTTP/1.1\r\n\r\n", body);
  CHECK(head.starts_with("HTTP/1.1 200"));
  CHECK(head.ends_with("\r\n\r\n"));
  CHECK(st::answer_to("GET / HTTP/1.1\r\n\r\n", body).starts_with("HTTP/1.1 404"));
  CHECK(st::answer_to("GET /metricsx HTTP/1.1\r\n\r\n", body).starts_with("HTTP/1.1 404"));
  CHECK(st::answer_to("POST /metrics HTTP/1.1\r\n\r\n", body).starts_with("HTTP/1.1 405"));
  CHECK(st::answer_to("\x01\x02garbage", body).starts_with("HTTP/1.1 400"));
  CHECK(st::answer_to("", body).starts_with("HTTP/1.1 400"));
  CHECK(st::answer_to("GET /metrics HTTP/1.1\r\nHost: a\r\n", body).starts_with("HTTP/1.1 400"));
  CHECK(st::answer_to("GET /metrics HTTP/2.0\r\n\r\n", body).starts_with("HTTP/1.1 400"));
}

TEST_CASE("the endpoint's reader is bounded and reads a request sent in pieces") {
  using status = st::request_reader::status;
  std::function<std::string()> const body = [] { return std::string("x 1\n"); };
  CHECK(st::answer_to("GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", body)
            .starts_with("HTTP/1.1 431"));
  CHECK(st::answer_to("POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b'),
                      body)
            .starts_with("HTTP/1.1 413"));

  st::request_reader reader;
  std::string const whole =
      "POST /spawn?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer abc\r\n"
      "Content-Length: 3\r\n\r\n2 3";
  for (std::size_t i = 0; i + 1 < whole.size(); ++i) {
    REQUIRE(reader.feed(whole.substr(i, 1)) == status::more);
  }
  REQUIRE(reader.feed(whole.substr(whole.size() - 1)) == status::done);
  CHECK(reader.request().method == "POST");
  CHECK(reader.request().path == "/spawn");
  CHECK(reader.request().authorization == "Bearer abc");
  CHECK(reader.request().body == "2 3");
  CHECK(reader.end_of_input() == status::done);

  st::request_reader endless;
  CHECK(endless.feed("GET /metrics HTTP/1.1\r\n") == status::more);
  CHECK(endless.end_of_input() == status::bad);
  // A head that never ends is refused once it passes the limit, not buffered for ever.
  st::request_reader flood;
  status s = status::more;
  for (int i = 0; i < 100 && s == status::more; ++i) s = flood.feed(std::string(1000, 'a'));
  CHECK(s != status::more);
}

TEST_CASE("an answer carries its status, type, length and extra headers, and HEAD drops the body") {
  st::http_reply const r{401, "application/json", "{}\n", "WWW-Authenticate: Bearer\r\n"};
  auto const text = st::render(r, false);
  CHECK(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
  CHECK(text.find("\r\nWWW-Authenticate: Bearer\r\n") != std::string::npos);
  CHECK(text.find("Content-Length: 3\r\n") != std::string::npos);
  CHECK(text.ends_with("\r\n\r\n{}\n"));
  CHECK(st::render(r, true).ends_with("Connection: close\r\n\r\n"));
}

TEST_CASE("the metrics socket listens, non-blocking and close-on-exec, and a taken port is errno") {
  auto const any = st::metrics_address::parse("127.0.0.1:0");
  REQUIRE(any);
  int const fd = st::bind_metrics(*any);
  REQUIRE(fd >= 0);
  CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  CHECK((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
  std::uint16_t const port = st::bound_port(fd);
  CHECK(port != 0);
  auto const same = st::metrics_address::parse("127.0.0.1:" + std::to_string(port));
  REQUIRE(same);
  errno = 0;
  CHECK(st::bind_metrics(*same) == -1);
  CHECK(errno == EADDRINUSE);
  ::close(fd);
}

TEST_CASE("an IPv6 metrics address is bound as IPv6, on the loopback asked for") {
  auto const v6 = st::metrics_address::parse("[::1]:0");
  REQUIRE(v6);
  int const fd = st::bind_metrics(*v6);
  REQUIRE(fd >= 0);
  sockaddr_in6 addr{};
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  CHECK(addr.sin6_family == AF_INET6);
  CHECK(IN6_IS_ADDR_LOOPBACK(&addr.sin6_addr));
  CHECK(st::bound_port(fd) != 0);
  ::close(fd);
}
