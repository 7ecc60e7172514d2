// SPDX-License-Identifier: BSL-1.0
// Fuzz target (libFuzzer): whatever datagram arrives on a worker's channel (a worker is the
// application's code, and may write anything on it), the master's reader takes it as one
// message of the sent bytes, or as nothing when it is shorter than a header; it never reads
// past what came, and a message is exactly what a worker's send() of it puts on the wire.
#include <cluster/ipc/channel.hpp>

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

/// One channel for the whole run, as a master and a worker hold it.
struct channel {
  int master = -1;
  int worker = -1;
  channel() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
    master = fds[0];
    worker = fds[1];
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  namespace ipc = cluster::ipc;
  static channel const c;
  std::size_t const frame = sizeof(ipc::detail::header) + ipc::max_text;
  if (size > frame) size = frame;  // a worker cannot send more in one datagram of the reader's
  if (::send(c.worker, data, size, MSG_DONTWAIT | MSG_NOSIGNAL) != static_cast<ssize_t>(size))
    std::abort();
  ipc::message m;
  auto const got = ipc::receive(c.master, m);
  if (size < sizeof(ipc::detail::header)) {
    // Too short to be a message (an empty datagram reads as a closed channel).
    if (got == ipc::receive_status::message) std::abort();
  } else {
    if (got != ipc::receive_status::message) std::abort();
    if (m.text.size() != size - sizeof(ipc::detail::header)) std::abort();
    if (std::memcmp(m.text.data(), data + sizeof(ipc::detail::header), m.text.size()) != 0)
      std::abort();
    // The same message sent by a worker arrives as itself.
    if (!ipc::send(c.worker, m)) std::abort();
    ipc::message again;
    if (ipc::receive(c.master, again) != ipc::receive_status::message) std::abort();
    if (again.type != m.type || again.value != m.value || again.text != m.text) std::abort();
  }
  // Nothing is left behind for the next input.
  ipc::message rest;
  if (ipc::receive(c.master, rest) == ipc::receive_status::message) std::abort();
  return 0;
}
