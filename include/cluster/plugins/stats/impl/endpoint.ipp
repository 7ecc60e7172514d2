// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/plugins/stats/endpoint.hpp>: inline in each program (header-only), or
// compiled once into cluster::compiled (see <cluster/src.hpp>).
#pragma once

#include <cluster/os/listen.hpp>
#include <cluster/plugins/stats/endpoint.hpp>
#include <cluster/server/protocol.hpp>
#include <cluster/text.hpp>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace cluster::detail::statistics {

CLUSTER_DECL std::optional<metrics_address> metrics_address::parse(std::string_view text) {
  auto const colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  std::string_view const port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt;  // an IPv6 address needs its brackets
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || end != port.data() + port.size() || p > 65535) return std::nullopt;
  boost::system::error_code aec;
  auto const addr = boost::asio::ip::make_address(std::string(host), aec);
  if (aec) return std::nullopt;
  return metrics_address{addr.to_string(), addr.is_v6(), static_cast<std::uint16_t>(p)};
}

CLUSTER_DECL std::string metrics_address::text(std::uint16_t actual_port) const {
  return v6 ? text::format("[{}]:{}", host, actual_port) : text::format("{}:{}", host, actual_port);
}

CLUSTER_DECL int bind_metrics(metrics_address const& a) {
  // The host is a numeric address (parse() checked it): getaddrinfo() only fills its sockaddr.
  addrinfo hints{};
  hints.ai_family = a.v6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(a.host.c_str(), std::to_string(a.port).c_str(), &hints, &found) != 0) {
    errno = EINVAL;
    return -1;
  }
  os::tcp_listening bound =
      os::listen_tcp(found->ai_addr, found->ai_addrlen, {.backlog = 64, .nonblocking = true});
  ::freeaddrinfo(found);
  if (!bound.fd) {
    errno = bound.error;
    return -1;
  }
  return bound.fd.release();
}

CLUSTER_DECL std::uint16_t bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6 const&>(ss).sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in const&>(ss).sin_port);
}

CLUSTER_DECL std::string http_answer(std::string_view head,
                                     std::function<std::string()> const& body) {
  auto reply = [](std::string_view status, std::string_view type, std::string const& text) {
    return text::format(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        status, type, text.size(), text);
  };
  std::string_view const line = head.substr(0, head.find("\r\n"));
  auto const sp1 = line.find(' ');
  auto const sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/1."))
    return reply("400 Bad Request", "text/plain", "bad request\n");
  std::string_view const method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (target != "/metrics")
    return reply("404 Not Found", "text/plain", "not found; try /metrics\n");
  if (method != "GET" && method != "HEAD")
    return reply("405 Method Not Allowed", "text/plain", "GET /metrics\n");
  std::string text = reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", body());
  if (method == "HEAD") text.erase(text.find("\r\n\r\n") + 4);
  return text;
}

/// One scrape: read the request head (bounded), answer, close. Owned by its pending operations.
class scrape : public std::enable_shared_from_this<scrape> {
 public:
  scrape(stream sock, std::shared_ptr<state> st, body_source body)
      : sock_(std::move(sock)),
        timer_(sock_.get_executor()),
        state_(std::move(st)),
        body_(std::move(body)) {}

  void start() {
    int const fd = sock_.native_handle();
    // Asio's accept() does not set close-on-exec: a master restart must not hand this on.
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    state_->connection_fds.push_back(fd);
    timer_.expires_after(scrape_time_limit);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->finish();
    });
    read();
  }

 private:
  void read() {
    sock_.async_read_some(boost::asio::buffer(chunk_),
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                            self->on_read(ec, n);
                          });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    if (ec) {
      finish();
      return;
    }
    if (answered_) {  // draining what the client still sends, until it closes
      read();
      return;
    }
    head_.append(chunk_.data(), n);
    if (head_.find("\r\n\r\n") != std::string::npos || head_.size() >= max_request_bytes) {
      answer();
    } else {
      read();
    }
  }

  void answer() {
    answered_ = true;
    out_ = http_answer(head_, *body_);
    head_.clear();
    boost::asio::async_write(
        sock_, boost::asio::buffer(out_),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
          if (ec) {
            self->finish();
            return;
          }
          // Closing with unread input would reset the connection, and the client could lose
          // the answer: say we are done, then read until the client closes (within the time
          // limit).
          boost::system::error_code ignored;
          self->sock_.shutdown(boost::asio::socket_base::shutdown_send, ignored);
          self->read();
        });
  }

  void finish() {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    auto& fds = state_->connection_fds;
    fds.erase(std::remove(fds.begin(), fds.end(), sock_.native_handle()), fds.end());
    boost::system::error_code ignored;
    sock_.close(ignored);
  }

  stream sock_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<state> state_;
  body_source body_;
  std::array<char, 2048> chunk_{};
  std::string head_;
  std::string out_;
  bool answered_ = false;
  bool done_ = false;
};

/// The metrics listener on the master's event loop, owned by its pending operations.
class endpoint : public std::enable_shared_from_this<endpoint> {
 public:
  endpoint(boost::asio::io_context& io, int fd, stream_protocol protocol, std::shared_ptr<state> st,
           body_source body)
      : acceptor_(io, protocol, fd), retry_(io), state_(std::move(st)), body_(std::move(body)) {}

  void start() {
    state_->stop_endpoint = [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->stop();
    };
    accept();
  }

  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
    state_->listen_fd = -1;
  }

 private:
  void accept() {
    acceptor_.async_accept([self = shared_from_this()](boost::system::error_code ec, stream sock) {
      if (!self->acceptor_.is_open() || ec == boost::asio::error::operation_aborted) return;
      if (!ec) {
        std::make_shared<scrape>(std::move(sock), self->state_, self->body_)->start();
        self->accept();
        return;
      }
      // Out of descriptors, say: try again shortly rather than spin.
      self->retry_.expires_after(std::chrono::milliseconds(100));
      self->retry_.async_wait([self](boost::system::error_code wec) {
        if (!wec && self->acceptor_.is_open()) self->accept();
      });
    });
  }

  boost::asio::basic_socket_acceptor<stream_protocol> acceptor_;
  boost::asio::steady_timer retry_;
  std::shared_ptr<state> state_;
  body_source body_;
};

CLUSTER_DECL void serve_endpoint(boost::asio::io_context& io, int fd, metrics_address const& a,
                                 std::shared_ptr<state> st, body_source body) {
  stream_protocol const protocol(a.v6 ? AF_INET6 : AF_INET, IPPROTO_TCP);
  std::make_shared<endpoint>(io, fd, protocol, std::move(st), std::move(body))->start();
}

}  // namespace cluster::detail::statistics
