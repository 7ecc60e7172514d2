// SPDX-License-Identifier: BSL-1.0
// Binding the listening sockets in the master, before any worker is forked.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/os/address.hpp>
#include <cluster/os/fd.hpp>
#include <cluster/os/startup_error.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cluster::os {

/// A bound, listening socket and how to name it to a human.
struct listener {
  unique_fd fd;
  int family = AF_UNSPEC;  ///< AF_INET, AF_INET6 or AF_UNIX
  std::string name;        ///< `127.0.0.1:8080`, `[::1]:8080`, `unix:/run/app.sock`
  std::string unix_path;   ///< the socket file this master created, removed at exit
};

/// How listen_tcp() sets up its socket.
struct tcp_options {
  int backlog = 64;
  bool nonblocking = false;  ///< for a socket an event loop accepts on
  bool dual_stack = false;   ///< an IPv6 socket that takes IPv4 connections too
};

/// What listen_tcp() made: the listening socket, or the call that failed and why.
struct tcp_listening {
  unique_fd fd;
  char const* failed = nullptr;  ///< "socket", "bind" or "listen" when `fd` is empty
  int error = 0;                 ///< the errno of that call
};

/// A TCP socket bound to `addr` (`size` bytes) and listening; never throws, so that each caller
/// words its own error (a startup line, or a plugin's message).
///
/// The socket is close-on-exec from birth: workers inherit listeners through fork(), which
/// ignores the flag, while exec'd programs (a successor master, a plugin's command) must not get
/// them. It has SO_REUSEADDR, which lets a restarted server bind while the previous one's
/// connections sit in TIME_WAIT. It does not let two live servers share a port (that would be
/// SO_REUSEPORT), so "in use" is still detected.
inline tcp_listening listen_tcp(sockaddr const* addr, socklen_t size,
                                tcp_options const& options) noexcept {
  tcp_listening out;
  auto fail = [&out](char const* call) {
    out.failed = call;
    out.error = errno;
    out.fd.reset();
    return std::move(out);
  };
  int const flags = SOCK_CLOEXEC | (options.nonblocking ? SOCK_NONBLOCK : 0);
  out.fd.reset(::socket(addr->sa_family, SOCK_STREAM | flags, 0));
  if (!out.fd) return fail("socket");
  int const one = 1;
  ::setsockopt(out.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (options.dual_stack && addr->sa_family == AF_INET6) {
    int const zero = 0;
    ::setsockopt(out.fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  }
  if (::bind(out.fd.get(), addr, size) != 0) return fail("bind");
  if (::listen(out.fd.get(), options.backlog) != 0) return fail("listen");
  return out;
}

namespace detail {

inline std::string endpoint_text(endpoint const& ep) {
  if (ep.type == endpoint::kind::unix_socket) return "unix:" + std::string(ep.address);
  std::string host = ep.address.empty() ? std::string("*") : std::string(ep.address);
  return host + ":" + std::to_string(ep.port);
}

inline unique_fd open_socket(int family, int type) {
  // SOCK_CLOEXEC: workers inherit listeners through fork(), which ignores the flag; only exec'd
  // programs (a plugin's command, a worker's child) must not get them.
  unique_fd fd(::socket(family, type | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket");
  return fd;
}

/// The addresses of `ep`'s host (the wildcard when it has none), or `startup_error`.
struct found_addresses {
  addrinfo* list = nullptr;
  found_addresses() = default;
  found_addresses(found_addresses const&) = delete;
  found_addresses& operator=(found_addresses const&) = delete;
  ~found_addresses() {
    if (list != nullptr) ::freeaddrinfo(list);
  }
};

inline void look_up(endpoint const& ep, found_addresses& out) {
  std::string const host(ep.address);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // AI_PASSIVE with no host gives the wildcard address; AI_NUMERICSERV avoids a services lookup.
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  std::string const port = std::to_string(ep.port);
  // A blocking lookup is right here: the master is still single-threaded and nothing is served
  // yet. (Asio's async resolver would start a thread, which makes later fork() calls unsafe.)
  if (int const rc =
          ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &out.list);
      rc != 0) {
    out.list = nullptr;
    throw startup_error("cluster: cannot listen on " + endpoint_text(ep) + ": unknown host '" +
                        host + "' (" + ::gai_strerror(rc) +
                        "); use a name or address of this machine");
  }
}

/// The socket address of the unix socket `path`, or `startup_error` when it cannot be one.
inline sockaddr_un unix_address(std::string const& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw startup_error("cluster: cannot listen on unix socket '" + path +
                        "': the path must be 1 to " + std::to_string(sizeof addr.sun_path - 1) +
                        " characters long");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

inline listener bind_tcp(endpoint const& ep, int backlog) {
  std::string const host(ep.address);
  found_addresses addresses;
  look_up(ep, addresses);
  addrinfo* const found = addresses.list;
  // Prefer IPv6 for the wildcard so that one dual-stack socket serves both families.
  addrinfo* chosen = found;
  if (host.empty()) {
    for (addrinfo* ai = found; ai; ai = ai->ai_next) {
      if (ai->ai_family == AF_INET6) chosen = ai;
    }
  }
  listener out;
  out.family = chosen->ai_family;
  tcp_listening bound =
      listen_tcp(chosen->ai_addr, chosen->ai_addrlen,
                 {.backlog = backlog, .dual_stack = chosen->ai_family == AF_INET6 && host.empty()});
  if (!bound.fd && std::string_view(bound.failed) == "bind") {
    std::string why = std::strerror(bound.error);
    if (bound.error == EADDRINUSE)
      why = "the port is in use; stop the other server or choose another port";
    if (bound.error == EACCES)
      why = "permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE";
    if (bound.error == EADDRNOTAVAIL) why = "the address is not one of this machine's";
    throw startup_error("cluster: cannot listen on " + endpoint_text(ep) + ": " + why);
  }
  if (!bound.fd) {
    errno = bound.error;
    throw_errno(bound.failed);
  }
  out.fd = std::move(bound.fd);
  sockaddr_storage actual{};
  socklen_t len = sizeof actual;
  // With port 0 the kernel picked the port: ask which, so it can be reported.
  ::getsockname(out.fd.get(), reinterpret_cast<sockaddr*>(&actual), &len);
  out.name = address_text(reinterpret_cast<sockaddr*>(&actual), len);
  return out;
}

/// True when something accepts connections on the unix socket at `addr`.
inline bool unix_socket_alive(sockaddr_un const& addr) {
  unique_fd probe = open_socket(AF_UNIX, SOCK_STREAM);
  return ::connect(probe.get(), reinterpret_cast<sockaddr const*>(&addr), sizeof addr) == 0 ||
         errno != ECONNREFUSED;
}

inline listener bind_unix(endpoint const& ep, int backlog) {
  std::string const path(ep.address);
  sockaddr_un const addr = unix_address(path);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    // A socket file left by a crashed server makes bind() fail with EADDRINUSE. Remove it only
    // when it is a socket nobody accepts on: never delete a regular file or a live server's socket.
    if (!S_ISSOCK(st.st_mode)) {
      throw startup_error(
          "cluster: cannot listen on unix socket " + path +
          ": the path exists and is not a socket; remove it or choose another path");
    }
    if (unix_socket_alive(addr)) {
      throw startup_error("cluster: cannot listen on unix socket " + path +
                          ": another server is listening there; stop it or choose another path");
    }
    ::unlink(path.c_str());
  }
  listener out;
  out.family = AF_UNIX;
  out.fd = open_socket(AF_UNIX, SOCK_STREAM);
  if (::bind(out.fd.get(), reinterpret_cast<sockaddr const*>(&addr), sizeof addr) != 0) {
    int const e = errno;
    throw startup_error("cluster: cannot listen on unix socket " + path + ": " + std::strerror(e) +
                        "; check that the directory exists and is writable");
  }
  if (::listen(out.fd.get(), backlog) != 0) throw_errno("listen");
  out.name = "unix:" + path;
  out.unix_path = path;
  return out;
}

}  // namespace detail

/// The listening sockets this process was started with (systemd socket activation, or a master
/// handing its sockets to its successor): `LISTEN_FDS` descriptors from 3, when `LISTEN_PID` is
/// this process. Empty when there are none.
///
/// The variables are removed once read (as sd_listen_fds(1) does), so that workers and programs
/// they start do not take the sockets for theirs; each descriptor is made close-on-exec, since
/// it arrived without the flag to survive the exec that brought it here.
inline std::vector<listener> inherited_listeners() {
  std::vector<listener> out;
  char const* pid_text = std::getenv("LISTEN_PID");
  char const* count_text = std::getenv("LISTEN_FDS");
  if (!pid_text || !count_text) return out;
  bool const ours = std::strtol(pid_text, nullptr, 10) == static_cast<long>(::getpid());
  long const count = std::strtol(count_text, nullptr, 10);
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!ours) return out;
  for (int fd = 3; fd < 3 + count; ++fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
      throw startup_error("cluster: inherited descriptor " + std::to_string(fd) +
                          " (LISTEN_FDS) is not a listening socket; check the socket unit");
    }
    set_cloexec(fd, true);
    listener l;
    l.fd = unique_fd(fd);
    sockaddr_storage addr{};
    len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    l.family = addr.ss_family;
    if (l.family == AF_UNIX) {
      auto const* un = reinterpret_cast<sockaddr_un const*>(&addr);
      l.name = std::string("unix:") + un->sun_path;
    } else {
      l.name = address_text(reinterpret_cast<sockaddr const*>(&addr), len);
      // Another family (a socket unit may pass vsock or netlink sockets): name the descriptor.
      if (l.name.empty()) l.name = "descriptor " + std::to_string(fd);
    }
    out.push_back(std::move(l));
  }
  return out;
}

/// Checks what can be checked of `ep` without binding it (a configuration check, while another
/// master may hold the address): a TCP host that resolves, a unix socket path of a usable length
/// in an existing directory. Throws `startup_error` in the words `bind_listener` would use.
inline void check_listener(endpoint const& ep) {
  if (ep.type == endpoint::kind::tcp) {
    detail::found_addresses addresses;
    detail::look_up(ep, addresses);
    return;
  }
  std::string const path(ep.address);
  (void)detail::unix_address(path);
  std::string const dir =
      path.find('/') == std::string::npos
          ? std::string(".")
          : (path.rfind('/') == 0 ? std::string("/") : path.substr(0, path.rfind('/')));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw startup_error("cluster: cannot listen on unix socket " + path + ": the directory " + dir +
                        " does not exist; create it or choose another path");
  }
}

/// Binds and listens on `ep`; throws `startup_error` with a one-line message a user can act on.
inline listener bind_listener(endpoint const& ep, int backlog) {
  return ep.type == endpoint::kind::unix_socket ? detail::bind_unix(ep, backlog)
                                                : detail::bind_tcp(ep, backlog);
}

}  // namespace cluster::os
