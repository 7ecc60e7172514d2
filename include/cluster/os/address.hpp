// SPDX-License-Identifier: BSL-1.0
// A socket address as a person writes it: `127.0.0.1:8080`, `[::1]:8080`.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>
#include <string>

namespace cluster::os {

/// The IP address and port at `addr` (`size` bytes) as text: `127.0.0.1:8080`, or `[::1]:8080`
/// for IPv6 (the brackets keep the port apart from the address). Empty for any other family, or
/// for fewer bytes than the family needs: the caller names those (a unix socket, say).
///
/// One spelling for every place that shows an address (bound listeners, inherited ones, a
/// client's peer), so that a log line and a startup message name an endpoint the same way.
inline std::string address_text(sockaddr const* addr, std::size_t size) {
  if (size < sizeof(sa_family_t)) return {};
  char host[INET6_ADDRSTRLEN] = {};
  // Copied out rather than cast: `addr` may point into storage with the alignment of a plain
  // sockaddr (Asio's endpoint, say), less than sockaddr_in6 asks for.
  if (addr->sa_family == AF_INET && size >= sizeof(sockaddr_in)) {
    sockaddr_in in{};
    std::memcpy(&in, addr, sizeof in);
    ::inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
    return std::string(host) + ':' + std::to_string(ntohs(in.sin_port));
  }
  if (addr->sa_family == AF_INET6 && size >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, addr, sizeof in6);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
    // Appended rather than '[' + std::string(host): g++ 12 at -O3 reports a false -Wrestrict on
    // a character or literal plus a std::string.
    std::string text = "[";
    text.append(host).append("]:").append(std::to_string(ntohs(in6.sin6_port)));
    return text;
  }
  return {};
}

}  // namespace cluster::os
