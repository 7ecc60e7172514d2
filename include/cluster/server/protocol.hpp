// SPDX-License-Identifier: BSL-1.0
// The protocol of the sockets a worker accepts: a stream socket of any address family.
#pragma once

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/generic/basic_endpoint.hpp>

#include <sys/socket.h>

namespace cluster {

/// Asio's Protocol for a connection accepted on an inherited listener: TCP over IPv4 or IPv6,
/// or a unix socket, told apart at run time by the address family.
///
/// It is what `boost::asio::generic::stream_protocol` is, without the `iostream` member type,
/// whose header (`<boost/asio/basic_socket_iostream.hpp>`, with the standard iostreams and
/// Asio's timers behind it) every program would otherwise parse for a type none of them uses.
class stream_protocol {
 public:
  /// A protocol of the family `address_family` (`AF_INET`, `AF_INET6`, `AF_UNIX`) and the
  /// protocol number `socket_protocol` (`IPPROTO_TCP` for TCP, 0 for a unix socket).
  constexpr stream_protocol(int address_family, int socket_protocol) noexcept
      : family_(address_family), protocol_(socket_protocol) {}

  [[nodiscard]] static constexpr int type() noexcept { return SOCK_STREAM; }
  [[nodiscard]] constexpr int protocol() const noexcept { return protocol_; }
  [[nodiscard]] constexpr int family() const noexcept { return family_; }

  friend constexpr bool operator==(stream_protocol const&, stream_protocol const&) = default;

  /// An address of any family, as `accept()` or `getpeername()` returns it.
  using endpoint = boost::asio::generic::basic_endpoint<stream_protocol>;
  /// A connected socket.
  using socket = boost::asio::basic_stream_socket<stream_protocol>;

 private:
  int family_;
  int protocol_;
};

/// The connected socket a TCP server's `serve` receives (TCP or unix, as the listener is).
using stream = stream_protocol::socket;

}  // namespace cluster
