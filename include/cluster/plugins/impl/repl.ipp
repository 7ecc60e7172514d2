// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/plugins/repl.hpp>: inline in each program (header-only), or compiled
// once into cluster::compiled (see <cluster/src.hpp>).
#pragma once

#include <cluster/os/address.hpp>
#include <cluster/os/fd.hpp>
#include <cluster/os/startup_error.hpp>
#include <cluster/plugins/impl/cli.ipp>
#include <cluster/plugins/repl.hpp>

#include <boost/asio/steady_timer.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>

namespace cluster {

namespace detail::control {

/// `host` as an address for a TCP console: 127.0.0.1 for `localhost`. Throws `startup_error`
/// for what is not an IP address, and for an address that is not loopback unless `remote`.
inline sockaddr_storage console_address(std::string const& host, unsigned short port, bool remote) {
  sockaddr_storage addr{};
  std::string const name = host == "localhost" ? "127.0.0.1" : host;
  auto& in4 = reinterpret_cast<sockaddr_in&>(addr);
  auto& in6 = reinterpret_cast<sockaddr_in6&>(addr);
  bool loopback = false;
  if (::inet_pton(AF_INET, name.c_str(), &in4.sin_addr) == 1) {
    in4.sin_family = AF_INET;
    in4.sin_port = htons(port);
    loopback = (ntohl(in4.sin_addr.s_addr) >> 24U) == 127U;
  } else if (::inet_pton(AF_INET6, name.c_str(), &in6.sin6_addr) == 1) {
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    loopback = IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr);
  } else {
    throw startup_error("cluster: repl: the console's host '" + host +
                        "' is not an IP address; give one, such as 127.0.0.1 or ::1");
  }
  if (!loopback && !remote) {
    throw startup_error(
        "cluster: repl: a TCP console on " + host +
        " lets anyone who reaches it control the master; listen on loopback "
        "(127.0.0.1, ::1), use a unix socket, or say repl::tcp(...).allow_remote()");
  }
  return addr;
}

/// A listening TCP socket on `addr`, or an empty descriptor with `errno` set.
inline os::unique_fd listen_tcp(sockaddr_storage const& addr) {
  os::unique_fd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fd;
  int const on = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  socklen_t const len = addr.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (::bind(fd.get(), reinterpret_cast<sockaddr const*>(&addr), len) != 0 ||
      ::listen(fd.get(), 64) != 0) {
    int const e = errno;
    fd.reset();
    errno = e;
  }
  return fd;
}

/// The address `fd` listens on, as `127.0.0.1:7000` or `[::1]:7000`.
inline std::string bound_name(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return os::address_text(reinterpret_cast<sockaddr const*>(&addr), len);
}

}  // namespace detail::control

CLUSTER_DECL void repl::start(master_api& master) {
  started_ = std::chrono::steady_clock::now();
  if (tcp_) {
    // Checked in every master, so that a wrong address never waits for a restart to show.
    (void)detail::control::console_address(host_, port_, remote_);
  } else {
    if (path_.empty()) {
      throw startup_error(
          "cluster: repl: the console's socket path is empty; name one, such as "
          "repl{\"console.sock\"}");
    }
    path_ = std::filesystem::absolute(path_).string();
  }
  if (master.restarted()) {
    // The predecessor still listens; this master takes the console over once it serves.
    deferred_ = true;
    return;
  }
  open(master, false);
}

CLUSTER_DECL void repl::on(events::ready const& /*event*/, master_api& master) {
  if (!deferred_) return;
  deferred_ = false;
  try {
    open(master, true);
  } catch (std::exception const& e) {
    std::fprintf(stderr, "%s; the console stays off\n", e.what());
  }
}

CLUSTER_DECL void repl::open(master_api& master, bool take_over) {
  namespace c = detail::control;
  if (!tcp_) {
    serve(master, c::bind_socket(path_, take_over, {}, c::console_socket).release(), path_);
    return;
  }
  sockaddr_storage const addr = c::console_address(host_, port_, remote_);
  os::unique_fd fd = c::listen_tcp(addr);
  if (!fd && errno == EADDRINUSE && take_over && port_ != 0) {
    // The predecessor listens until it exits: try again until the port is free.
    struct retry : std::enable_shared_from_this<retry> {
      retry(repl& plugin, master_api& m, sockaddr_storage const& a)
          : self(&plugin), master(&m), timer(m.io()), addr(a) {}
      void arm() {
        timer.expires_after(std::chrono::milliseconds(100));
        timer.async_wait([r = shared_from_this()](boost::system::error_code ec) {
          if (ec || r->master->state() != master_state::active) return;
          os::unique_fd got = c::listen_tcp(r->addr);
          if (got) return r->self->serve(*r->master, got.release(), {});
          if (errno == EADDRINUSE && std::chrono::steady_clock::now() < r->until) return r->arm();
          std::fprintf(stderr, "cluster: repl: cannot listen on %s:%u: %s; the console stays off\n",
                       r->self->host_.c_str(), static_cast<unsigned>(r->self->port_),
                       std::strerror(errno));
        });
      }
      repl* self;
      master_api* master;
      boost::asio::steady_timer timer;
      sockaddr_storage addr;
      std::chrono::steady_clock::time_point until =
          std::chrono::steady_clock::now() + std::chrono::minutes(5);
    };
    std::make_shared<retry>(*this, master, addr)->arm();
    return;
  }
  if (!fd) {
    throw startup_error("cluster: repl: cannot listen on " + host_ + ":" + std::to_string(port_) +
                        ": " + std::strerror(errno));
  }
  serve(master, fd.release(), {});
}

CLUSTER_DECL void repl::serve(master_api& master, int fd, std::string const& path) {
  namespace c = detail::control;
  std::string const where = path.empty() ? c::bound_name(fd) : "unix:" + path;
  auto server = std::make_shared<c::server>(master, os::unique_fd(fd), path, started_, commands_,
                                            c::access_policy{}, c::listener_kind::console);
  server->start();
  server_ = server;
  std::fprintf(stderr, "cluster: repl: console on %s\n", where.c_str());
  std::fflush(stderr);
}

}  // namespace cluster
