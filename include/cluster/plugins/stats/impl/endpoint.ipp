// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/plugins/stats/endpoint.hpp>: inline in each program (header-only), or
// compiled once into cluster::compiled (see <cluster/src.hpp>).
#pragma once

#include <cluster/os/address.hpp>
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
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/optional/optional.hpp>

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

CLUSTER_DECL std::string render(http_reply const& r, bool head_only) {
  namespace http = boost::beast::http;
  std::string_view const reason = http::obsolete_reason(http::int_to_status(r.status));
  std::string out = text::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
      r.status, reason, r.content_type, r.body.size(), r.headers);
  if (!head_only) out += r.body;
  return out;
}

/// Beast's parser, keeping only what the routes read: no header container, no message.
struct request_reader::parser final : boost::beast::http::basic_parser<true> {
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;
  using field = boost::beast::http::field;

  parser() {
    header_limit(static_cast<std::uint32_t>(max_head_bytes));
    body_limit(max_body_bytes);
    eager(true);
  }

  http_request request;

 private:
  void on_request_impl(boost::beast::http::verb /*v*/, string_view method, string_view target,
                       int /*version*/, error_code& /*ec*/) override {
    request.method.assign(method.data(), method.size());
    std::string_view const t(target.data(), target.size());
    request.path = std::string(t.substr(0, t.find('?')));
  }
  void on_response_impl(int /*code*/, string_view /*reason*/, int /*version*/,
                        error_code& /*ec*/) override {}
  void on_field_impl(field name, string_view /*name*/, string_view value,
                     error_code& /*ec*/) override {
    if (name == field::authorization) request.authorization.assign(value.data(), value.size());
  }
  void on_header_impl(error_code& /*ec*/) override {}
  void on_body_init_impl(boost::optional<std::uint64_t> const& /*length*/,
                         error_code& /*ec*/) override {}
  std::size_t on_body_impl(string_view body, error_code& /*ec*/) override {
    request.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t /*size*/, string_view /*extensions*/,
                            error_code& /*ec*/) override {}
  std::size_t on_chunk_body_impl(std::uint64_t /*remain*/, string_view body,
                                 error_code& /*ec*/) override {
    request.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code& /*ec*/) override {}
};

CLUSTER_DECL request_reader::request_reader() : parser_(std::make_unique<parser>()) {}

CLUSTER_DECL request_reader::~request_reader() = default;

CLUSTER_DECL request_reader::status request_reader::feed(std::string_view bytes) {
  namespace http = boost::beast::http;
  if (last_ != status::more) return last_;
  pending_.append(bytes);
  auto& p = *parser_;
  while (!p.is_done()) {
    if (pending_.empty()) return status::more;
    boost::beast::error_code ec;
    std::size_t const used = p.put(boost::asio::buffer(pending_.data(), pending_.size()), ec);
    pending_.erase(0, used);
    if (ec == http::error::header_limit) return last_ = status::head_too_large;
    if (ec == http::error::body_limit) return last_ = status::body_too_large;
    if (ec && ec != http::error::need_more) return last_ = status::bad;
    if (used == 0 && !p.is_done()) {
      // Beast wants the whole head in one buffer: what is pending is the head so far.
      if (pending_.size() > max_head_bytes) return last_ = status::head_too_large;
      return status::more;
    }
  }
  request_ = std::move(p.request);
  pending_.clear();
  return last_ = status::done;
}

CLUSTER_DECL request_reader::status request_reader::end_of_input() {
  if (last_ == status::more) last_ = status::bad;
  return last_;
}

CLUSTER_DECL bool metrics_route(http_request const& r, std::function<std::string()> const& body,
                                http_reply& out) {
  if (r.path != "/metrics") return false;
  if (r.method != "GET" && r.method != "HEAD") {
    out = {405, "text/plain; charset=utf-8", "GET /metrics\n", "Allow: GET, HEAD\r\n"};
    return true;
  }
  out = {200, "text/plain; version=0.0.4; charset=utf-8", body()};
  return true;
}

/// The answer to a request the reader refused.
inline http_reply refusal(request_reader::status s) {
  using status = request_reader::status;
  if (s == status::head_too_large)
    return {431, "text/plain; charset=utf-8", "request head too large\n"};
  if (s == status::body_too_large) return {413, "text/plain; charset=utf-8", "body too large\n"};
  return {400, "text/plain; charset=utf-8", "bad request\n"};
}

inline http_reply not_found() {
  return {404, "text/plain; charset=utf-8", "not found; try /metrics\n"};
}

CLUSTER_DECL std::string answer_to(std::string_view bytes,
                                   std::function<std::string()> const& body) {
  request_reader reader;
  auto s = reader.feed(bytes);
  if (s == request_reader::status::more) s = reader.end_of_input();
  if (s != request_reader::status::done) return render(refusal(s), false);
  http_reply out;
  if (!metrics_route(reader.request(), body, out)) out = not_found();
  return render(out, reader.request().method == "HEAD");
}

/// One request: read it (bounded in size and time), answer, close. Owned by its pending
/// operations.
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
    arm();
    read();
  }

 private:
  void arm() {
    timer_.expires_after(scrape_time_limit);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->finish();
    });
  }

  void read() {
    sock_.async_read_some(boost::asio::buffer(chunk_),
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                            self->on_read(ec, n);
                          });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    if (done_) return;
    if (answered_) {  // draining what the client still sends, until it closes
      if (ec) return finish();
      return read();
    }
    using status = request_reader::status;
    status const s = ec ? reader_.end_of_input() : reader_.feed(std::string_view(chunk_.data(), n));
    if (s == status::more) return read();
    if (s != status::done) return answer(refusal(s));
    route(reader_.request());
  }

  void route(http_request const& r) {
    http_reply out;
    if (metrics_route(r, *body_, out)) return answer(out);
    if (state_->routes) {
      http_request with_peer = r;
      with_peer.peer = peer();
      // The route may answer later (a command that waits for its outcome): no time limit then.
      timer_.cancel();
      waiting_ = true;
      // The answer keeps the connection: nothing else is pending on it while a route waits.
      responder const respond = [self = shared_from_this()](http_reply const& reply) {
        self->answer(reply);
      };
      if (state_->routes(with_peer, respond)) return;
      waiting_ = false;
      arm();
    }
    answer(not_found());
  }

  [[nodiscard]] std::string peer() {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(sock_.native_handle(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return "?";
    return os::address_text(reinterpret_cast<sockaddr const*>(&addr), len);
  }

  void answer(http_reply const& reply) {
    if (done_ || answered_) return;
    answered_ = true;
    if (waiting_) arm();
    out_ = render(reply, reader_.request().method == "HEAD");
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
  request_reader reader_;
  std::string out_;
  bool waiting_ = false;  ///< a route answers later
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
