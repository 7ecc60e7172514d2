// SPDX-License-Identifier: BSL-1.0
// Socket addresses as text: what listeners, startup errors and the logger's peers are named by.
#include <cluster/os/address.hpp>

#include <catch2/catch.hpp>

#include <sys/un.h>

#include <cstddef>

using cluster::os::address_text;

namespace {

sockaddr const* as_sockaddr(void const* p) { return static_cast<sockaddr const*>(p); }

}  // namespace

TEST_CASE("an IPv4 address reads as address:port") {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(8080);
  REQUIRE(::inet_pton(AF_INET, "127.0.0.1", &in.sin_addr) == 1);
  CHECK(address_text(as_sockaddr(&in), sizeof in) == "127.0.0.1:8080");
}

TEST_CASE("an IPv6 address is bracketed, so that the port stands apart") {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(9100);
  REQUIRE(::inet_pton(AF_INET6, "::1", &in6.sin6_addr) == 1);
  CHECK(address_text(as_sockaddr(&in6), sizeof in6) == "[::1]:9100");
}

TEST_CASE("another family, or too few bytes for the family, reads as nothing") {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  CHECK(address_text(as_sockaddr(&un), sizeof un).empty());
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  CHECK(address_text(as_sockaddr(&in6), sizeof(sockaddr_in)).empty());
  CHECK(address_text(as_sockaddr(&in6), 0).empty());
}
