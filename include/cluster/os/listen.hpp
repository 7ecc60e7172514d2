// SPDX-License-Identifier: BSL-1.0
// Binding the listening sockets in the master, before any worker is forked.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/os/fd.hpp>
#include <cluster/os/startup_error.hpp>

#include <arpa/inet.h>
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
#include <vector>

namespace cluster::os {

/// A bound, listening socket and how to name it to a human.
struct listener {
  unique_fd fd;
  int family = AF_UNSPEC;  ///< AF_INET, AF_INET6 or AF_UNIX
  std::string name;        ///< `127.0.0.1:8080`, `[::1]:8080`, `unix:/run/app.sock`
  std::string unix_path;   ///< the socket file this master created, removed at exit
};

namespace detail {

inline std::string describe_address(sockaddr const* sa) {
  char host[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    auto const* in = reinterpret_cast<sockaddr_in const*>(sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  auto const* in6 = reinterpret_cast<sockaddr_in6 const*>(sa);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  // Appended rather than "[" + std::string(host): g++ 12 at -O3 reports a false -Wrestrict on a
  // literal plus a std::string.
  std::string text = "[";
  text.append(host).append("]:").append(std::to_string(ntohs(in6->sin6_port)));
  return text;
}

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

inline listener bind_tcp(endpoint const& ep, int backlog) {
  std::string const host(ep.address);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // AI_PASSIVE with no host gives the wildcard address; AI_NUMERICSERV avoids a services lookup.
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string const port = std::to_string(ep.port);
  // A blocking lookup is right here: the master is still single-threaded and nothing is served
  // yet. (Asio's async resolver would start a thread, which makes later fork() calls unsafe.)
  if (int const rc =
          ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    throw startup_error("cluster: cannot listen on " + endpoint_text(ep) + ": unknown host '" +
                        host + "' (" + ::gai_strerror(rc) +
                        "); use a name or address of this machine");
  }
  // Prefer IPv6 for the wildcard so that one dual-stack socket serves both families.
  addrinfo* chosen = found;
  if (host.empty()) {
    for (addrinfo* ai = found; ai; ai = ai->ai_next) {
      if (ai->ai_family == AF_INET6) chosen = ai;
    }
  }
  listener out;
  out.family = chosen->ai_family;
  out.fd = open_socket(chosen->ai_family, SOCK_STREAM);
  int const one = 1;
  // SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT. It does not
  // let two live servers share a port (that would be SO_REUSEPORT), so "in use" is still detected.
  ::setsockopt(out.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (chosen->ai_family == AF_INET6 && host.empty()) {
    int const zero = 0;
    ::setsockopt(out.fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  }
  int const bound = ::bind(out.fd.get(), chosen->ai_addr, chosen->ai_addrlen);
  int const bind_errno = errno;
  ::freeaddrinfo(found);
  if (bound != 0) {
    std::string why = std::strerror(bind_errno);
    if (bind_errno == EADDRINUSE)
      why = "the port is in use; stop the other server or choose another port";
    if (bind_errno == EACCES)
      why = "permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE";
    if (bind_errno == EADDRNOTAVAIL) why = "the address is not one of this machine's";
    throw startup_error("cluster: cannot listen on " + endpoint_text(ep) + ": " + why);
  }
  if (::listen(out.fd.get(), backlog) != 0) throw_errno("listen");
  sockaddr_storage actual{};
  socklen_t len = sizeof actual;
  // With port 0 the kernel picked the port: ask which, so it can be reported.
  ::getsockname(out.fd.get(), reinterpret_cast<sockaddr*>(&actual), &len);
  out.name = describe_address(reinterpret_cast<sockaddr*>(&actual));
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
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw startup_error("cluster: cannot listen on unix socket '" + path +
                        "': the path must be 1 to " + std::to_string(sizeof addr.sun_path - 1) +
                        " characters long");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
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
      l.name = detail::describe_address(reinterpret_cast<sockaddr const*>(&addr));
    }
    out.push_back(std::move(l));
  }
  return out;
}

/// Binds and listens on `ep`; throws `startup_error` with a one-line message a user can act on.
inline listener bind_listener(endpoint const& ep, int backlog) {
  return ep.type == endpoint::kind::unix_socket ? detail::bind_unix(ep, backlog)
                                                : detail::bind_tcp(ep, backlog);
}

}  // namespace cluster::os
