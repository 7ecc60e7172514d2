// SPDX-License-Identifier: BSL-1.0
// Telling systemd what the master is doing: the sd_notify protocol, without libsystemd.
#pragma once

#include <cluster/os/fd.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cluster::os {

namespace detail {

/// A notification socket's address in the form sendto() takes; `length` 0 when it is not one.
struct notify_address {
  sockaddr_un addr{};
  socklen_t length = 0;
};

/// The socket address named by `address`: an absolute path, or `@name` in the abstract namespace.
///
/// Anything else (a relative path, systemd 253's `vsock:` addresses, a name too long for
/// `sun_path`) gives length 0, and the notifier stays disabled rather than sending somewhere
/// unintended.
inline notify_address to_notify_address(std::string_view address) noexcept {
  notify_address out;
  out.addr.sun_family = AF_UNIX;
  constexpr std::size_t room = sizeof out.addr.sun_path;
  constexpr auto base = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path));
  if (address.size() < 2 || address.size() > room) return out;
  if (address.front() == '/') {
    // A path needs its terminating NUL inside sun_path, and cannot contain one before it.
    if (address.size() == room || address.find('\0') != std::string_view::npos) return out;
    std::memcpy(out.addr.sun_path, address.data(), address.size());
    out.length = base + static_cast<socklen_t>(address.size() + 1);
  } else if (address.front() == '@') {
    // Abstract names start with a NUL byte and are exactly `length` long: counting a trailing
    // NUL would name a different socket, and the manager would never get the message.
    out.addr.sun_path[0] = '\0';
    std::memcpy(out.addr.sun_path + 1, address.data() + 1, address.size() - 1);
    out.length = base + static_cast<socklen_t>(address.size());
  }
  return out;
}

/// A whole number of at least 1 written in decimal, or nothing.
inline std::optional<std::uint64_t> parse_positive(std::string_view text) noexcept {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (char const c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    auto const digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (value == 0) return std::nullopt;
  return value;
}

/// The value of environment variable `name` (copied: it is unset right after), if set.
inline std::optional<std::string> take_environment(char const* name) {
  std::optional<std::string> value;
  if (char const* text = std::getenv(name)) value = text;
  ::unsetenv(name);
  return value;
}

}  // namespace detail

/// The service manager's notification socket (systemd's `NOTIFY_SOCKET`), if any.
///
/// The master reports through it: `READY=1` once every worker accepts, `RELOADING=1` at the start
/// of a master restart, `MAINPID=` of the new master, `STOPPING=1`, `STATUS=` lines and
/// `WATCHDOG=1`. A disabled notifier (no manager) sends nothing and costs nothing.
///
/// Example: `os::notifier::from_environment().send("READY=1\nSTATUS=4 workers accepting")`
class notifier {
 public:
  /// Reads `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace), `WATCHDOG_USEC` and
  /// `WATCHDOG_PID`, then unsets all three, as sd_notify(unset_environment=1) does, so that
  /// workers and the programs they start do not inherit them.
  ///
  /// The watchdog is ours only when `WATCHDOG_PID` is absent or is this process: a manager that
  /// set it for the process that exec'd us expects keep-alives from that one. A disabled notifier
  /// when `NOTIFY_SOCKET` is unset or invalid. Call it while the master is single-threaded:
  /// getenv() and unsetenv() are not thread-safe.
  static notifier from_environment() {
    auto const socket = detail::take_environment("NOTIFY_SOCKET");
    auto const usec = detail::take_environment("WATCHDOG_USEC");
    auto const pid = detail::take_environment("WATCHDOG_PID");
    std::optional<std::chrono::microseconds> watchdog;
    // 0 stands for "none": parse_positive never yields it. (A plain value, not an optional:
    // g++ 12 at -O2 warns that the optional's payload may be read uninitialized.)
    std::uint64_t const interval = usec ? detail::parse_positive(*usec).value_or(0) : 0;
    bool const for_us =
        !pid || detail::parse_positive(*pid) == static_cast<std::uint64_t>(::getpid());
    // systemd's "infinity" is UINT64_MAX; anything that does not fit the duration is no
    // watchdog at all, as sd_watchdog_enabled() treats it.
    if (interval != 0 && for_us &&
        interval < static_cast<std::uint64_t>(std::chrono::microseconds::max().count())) {
      watchdog = std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(interval));
    }
    return notifier(socket.value_or(std::string{}), watchdog);
  }

  /// A notifier for an explicit socket address: in tests, and in a master re-exporting it to the
  /// master that succeeds it. Disabled, with no watchdog, when `address` is not a valid one.
  explicit notifier(std::string address, std::optional<std::chrono::microseconds> watchdog = {})
      : address_(std::move(address)), watchdog_(watchdog) {
    if (detail::to_notify_address(address_).length == 0) {
      address_.clear();
      watchdog_.reset();
    }
  }

  /// A disabled notifier.
  notifier() = default;

  /// True when there is a manager to notify.
  [[nodiscard]] bool enabled() const noexcept { return !address_.empty(); }

  /// The socket address as given (`/run/systemd/notify`, or `@name` for the abstract namespace);
  /// empty when disabled.
  [[nodiscard]] std::string const& address() const noexcept { return address_; }

  /// The interval within which the manager expects `WATCHDOG=1`, when it runs a watchdog for us.
  [[nodiscard]] std::optional<std::chrono::microseconds> watchdog() const noexcept {
    return watchdog_;
  }

  /// Sends `state` (`"READY=1\nSTATUS=..."`) as one datagram; false when it could not be sent
  /// (disabled, nobody listening, the manager's queue full).
  ///
  /// Never blocks and never raises SIGPIPE, so a manager that went away or stalls cannot stop the
  /// master.
  bool send(std::string_view state) const noexcept {
    if (!enabled() || state.empty()) return false;
    detail::notify_address const to = detail::to_notify_address(address_);
    // A socket per message, as sd_notify() does, rather than one kept open in the notifier:
    // - the master forks workers, and fork() ignores close-on-exec, so a kept socket would sit in
    //   every worker (and in whatever a worker forks) for its whole life; this way no process
    //   but the master ever holds it, and only for the duration of one call;
    // - SOCK_CLOEXEC still matters for that moment: a plugin's thread fork+exec'ing a command
    //   concurrently must not pass it on;
    // - the notifier stays a copyable value that owns nothing, safe to copy into a successor's
    //   set-up;
    // - it costs a socket() and a close() per message, and messages are rare (state changes,
    //   and a keep-alive at most every few seconds).
    // SOCK_NONBLOCK: a full receive queue on the manager's side makes sendto() fail with EAGAIN
    // instead of stalling the master's event loop.
    unique_fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return false;
    ssize_t sent = 0;
    do {
      // MSG_NOSIGNAL: an error on the socket is a return value, never a SIGPIPE that would kill
      // a master that has not (yet) ignored it.
      sent = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                      reinterpret_cast<sockaddr const*>(&to.addr), to.length);
    } while (sent < 0 && errno == EINTR);
    return sent == static_cast<ssize_t>(state.size());
  }

 private:
  std::string address_;
  std::optional<std::chrono::microseconds> watchdog_;
};

/// CLOCK_MONOTONIC now, in microseconds: the clock of `"RELOADING=1\nMONOTONIC_USEC=..."`, by
/// which systemd tells a reload the service reports from one it asked for earlier.
inline std::uint64_t monotonic_usec() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1000000U +
         static_cast<std::uint64_t>(now.tv_nsec) / 1000U;
}

}  // namespace cluster::os
