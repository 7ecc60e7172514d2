// SPDX-License-Identifier: BSL-1.0
// Owned file descriptors, and pipes and socket pairs that are close-on-exec from birth.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace cluster::os {

/// Throws `std::system_error` for the current `errno`, naming the call that failed.
[[noreturn]] inline void throw_errno(char const* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// A file descriptor that is closed when its owner goes away; move-only.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(unique_fd const&) = delete;
  unique_fd& operator=(unique_fd const&) = delete;
  ~unique_fd() { reset(); }

  /// The descriptor, or -1.
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }

  /// Gives up ownership without closing.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  /// Closes the held descriptor (if any) and holds `fd` instead.
  void reset(int fd = -1) noexcept {
    // close() is not retried on EINTR: on Linux the descriptor is gone either way, and a retry
    // could close a descriptor another part of the program has just been given.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

/// Two ends of a pipe: `read` and `write`.
struct pipe_ends {
  unique_fd read;
  unique_fd write;
};

/// Creates a pipe whose ends are close-on-exec.
///
/// `O_CLOEXEC` is set atomically by pipe2(): setting it later with fcntl() would leave a window
/// in which a concurrent fork+exec (a plugin running a command) leaks the descriptor.
inline pipe_ends make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

/// Two connected unix sockets of the given type (`SOCK_SEQPACKET`, `SOCK_STREAM`), close-on-exec.
inline std::pair<unique_fd, unique_fd> make_socketpair(int type) {
  int fds[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) throw_errno("socketpair");
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

/// Sets or clears `FD_CLOEXEC` on `fd`.
///
/// Only descriptors handed to an exec'd program on purpose (a restarted master) are cleared.
inline void set_cloexec(int fd, bool on) {
  int const flags = ::fcntl(fd, F_GETFD);
  if (flags < 0) throw_errno("fcntl(F_GETFD)");
  int const wanted = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (wanted != flags && ::fcntl(fd, F_SETFD, wanted) != 0) throw_errno("fcntl(F_SETFD)");
}

/// Sets or clears `O_NONBLOCK` on `fd`.
inline void set_nonblocking(int fd, bool on) {
  int const flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) throw_errno("fcntl(F_GETFL)");
  int const wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && ::fcntl(fd, F_SETFL, wanted) != 0) throw_errno("fcntl(F_SETFL)");
}

}  // namespace cluster::os
