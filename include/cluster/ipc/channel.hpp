// SPDX-License-Identifier: BSL-1.0
// The per-worker channel to the master: rare, small, framed messages over a socket pair.
#pragma once

#include <cluster/os/fd.hpp>

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace cluster::ipc {

/// What a worker tells its master.
enum class message_type : std::uint8_t {
  connected = 1,  ///< the worker is accepting (or running its job)
  exception = 2,  ///< an exception escaped the server; `text` is its what()
  waiting = 3,    ///< graceful stop: `value` connections are still open
};

/// One message; `text` is cut to `max_text` bytes.
struct message {
  message_type type{};
  std::uint32_t value = 0;
  std::string text;
};

/// The largest text a message carries: enough for an error line, small enough for one datagram.
inline constexpr std::size_t max_text = 4000;

namespace detail {
struct header {
  message_type type;
  std::uint8_t reserved[3];
  std::uint32_t value;
};
}  // namespace detail

/// Makes the socket pair for one worker: `first` stays in the master, `second` goes to the worker.
///
/// SOCK_SEQPACKET keeps message boundaries (the framing is the kernel's) and reports the peer's
/// close as end-of-file, like a stream.
inline std::pair<os::unique_fd, os::unique_fd> make_channel() {
  return os::make_socketpair(SOCK_SEQPACKET);
}

/// Sends `m` on `fd`, blocking; false when the master is gone.
///
/// MSG_NOSIGNAL: a worker whose master died must get EPIPE here, not be killed by SIGPIPE.
inline bool send(int fd, message const& m) {
  detail::header h{m.type, {}, m.value};
  char buf[sizeof h + max_text];
  std::memcpy(buf, &h, sizeof h);
  std::size_t const n = m.text.size() < max_text ? m.text.size() : max_text;
  // A length-prefixed binary frame, not a C string: no terminator belongs in it.
  std::memcpy(buf + sizeof h, m.text.data(), n);  // NOLINT(bugprone-not-null-terminated-result)
  ssize_t rc;
  do {
    rc = ::send(fd, buf, sizeof h + n, MSG_NOSIGNAL);
  } while (rc < 0 && errno == EINTR);
  return rc >= 0;
}

/// The outcome of a non-blocking receive.
enum class receive_status : std::uint8_t { message, empty, closed };

/// Receives one message from `fd` without blocking.
inline receive_status receive(int fd, message& out) {
  char buf[sizeof(detail::header) + max_text];
  ssize_t rc;
  do {
    rc = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return receive_status::closed;
  if (rc < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK ? receive_status::empty : receive_status::closed;
  if (static_cast<std::size_t>(rc) < sizeof(detail::header)) return receive_status::empty;
  detail::header h;
  std::memcpy(&h, buf, sizeof h);
  out.type = h.type;
  out.value = h.value;
  out.text.assign(buf + sizeof h, static_cast<std::size_t>(rc) - sizeof h);
  return receive_status::message;
}

}  // namespace cluster::ipc
