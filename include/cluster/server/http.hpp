// SPDX-License-Identifier: BSL-1.0
// HTTP servers: HTTP/1.1 with keep-alive through Boost.Beast, one `handle` call per request.
#pragma once

#include <cluster/linkage.hpp>
#include <cluster/server/concepts.hpp>
#include <cluster/server/tcp.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace cluster::http {

/// The request an HTTP server's `handle` receives (a Beast message with a string body).
using request = boost::beast::http::request<boost::beast::http::string_body>;

/// The response `handle` returns. `Content-Length` and keep-alive are filled in when unset.
using response = boost::beast::http::response<boost::beast::http::string_body>;

/// Beast's status codes, fields and verbs, for writing handlers: `http::status::ok`.
using boost::beast::http::field;
using boost::beast::http::status;
using boost::beast::http::verb;

}  // namespace cluster::http

namespace cluster::detail {

/// Reads one request at a time from a connection's buffer. Not a template: Beast's parser and its
/// composed read are instantiated once, in <cluster/server/impl/http.ipp>, which the
/// `cluster::compiled` library compiles once instead of in every program.
class http_reader {
 public:
  CLUSTER_DECL http_reader();
  CLUSTER_DECL ~http_reader();
  http_reader(http_reader const&) = delete;
  http_reader& operator=(http_reader const&) = delete;
  http_reader(http_reader&&) = delete;
  http_reader& operator=(http_reader&&) = delete;

  /// Starts a new request and parses what `buffer` already holds, consuming it. An error ends the
  /// connection; no error with `done()` false means the rest is still to be read.
  CLUSTER_DECL boost::system::error_code parse(boost::beast::flat_buffer& buffer);
  /// Whether the request begun by `parse` is complete.
  [[nodiscard]] CLUSTER_DECL bool done() const;
  /// Reads the rest of the request begun by `parse` from `sock`: the error, and the bytes read.
  CLUSTER_DECL asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read(
      stream& sock, boost::beast::flat_buffer& buffer);
  /// The complete request, moved out of the parser.
  CLUSTER_DECL http::request release();

 private:
  // One parser per request (Beast's parser is not reusable), held here rather than allocated.
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
};

/// The answer to a connection whose bytes do not parse as an HTTP request (`why`, the reader's
/// error): 400, or 431 for a head beyond the reader's limit and 413 for a body beyond it, each
/// closing the connection. Nothing when the connection just ended (the client closed it, or a
/// timeout did).
[[nodiscard]] CLUSTER_DECL std::optional<http::response> refusal(boost::system::error_code why);

/// Writes `res` whole to `sock`: the error, and the bytes written.
CLUSTER_DECL asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_response(
    stream& sock, http::response& res);

/// How long an HTTP connection may sit idle between requests: `Server::keep_alive_timeout` when
/// the server declares it, else 5 s (node's default; long enough for a browser's next request).
template <class Server>
constexpr std::chrono::milliseconds keep_alive_timeout() {
  if constexpr (requires { Server::keep_alive_timeout; }) {
    return std::chrono::milliseconds(Server::keep_alive_timeout);
  } else {
    return std::chrono::seconds(5);
  }
}

/// How long receiving one request may take, from its first byte (or from the connection's
/// opening): `Server::request_timeout`, else 60 s. It bounds clients that send slowly on purpose.
template <class Server>
constexpr std::chrono::milliseconds request_timeout() {
  if constexpr (requires { Server::request_timeout; }) {
    return std::chrono::milliseconds(Server::request_timeout);
  } else {
    return std::chrono::seconds(60);
  }
}

/// How long the handler of `req` may run: the server's own `request_deadline(req)` when it
/// declares one and it says (0: no deadline for this route: an upload, a stream), else
/// `configured` (the `request deadline` setting; 0: none).
template <class Server>
std::chrono::milliseconds deadline_of(Server& server, http::request const& req,
                                      std::chrono::milliseconds configured) {
  if constexpr (requires {
                  {
                    server.request_deadline(req)
                    } -> std::convertible_to<std::optional<std::chrono::milliseconds>>;
                }) {
    if (std::optional<std::chrono::milliseconds> const d = server.request_deadline(req)) return *d;
  }
  return configured;
}

/// One HTTP connection: wait for a request, read it, call `handle`, write the response, until
/// either side closes, a timeout passes or a graceful stop begins.
template <class Server, class Hooks>
asio::awaitable<void> http_session(Server& server, stream sock, connection_set& conns, Hooks& hooks,
                                   peer_address peer) {
  // What the plugins that handle `client_request` are told about each request: only computed
  // when one does.
  constexpr bool report = Hooks::template wants<events::client_request>;
  using clock = std::chrono::steady_clock;
  connection_set::guard g(conns, &sock);
  client_scope<Hooks> client(hooks);
  [[maybe_unused]] std::string const remote = report ? peer_name(peer) : std::string();
  [[maybe_unused]] clock::time_point began{};
  boost::beast::flat_buffer buffer;
  http_reader reader;
  for (bool first = true;; first = false) {
    if (buffer.size() == 0) {
      // Idle until the next request's first bytes: the only time a graceful stop may close the
      // connection, since no request is half received. A read, not `async_wait(wait_read)`:
      // Asio re-arms epoll (one epoll_ctl call) for every wait on a socket, whereas a read that
      // finds nothing waits on the registration the socket already has.
      g.wait_request(first ? request_timeout<Server>() : keep_alive_timeout<Server>());
      auto [iec, n] =
          co_await sock.async_read_some(buffer.prepare(boost::beast::read_size(buffer, 65536)),
                                        asio::as_tuple(asio::use_awaitable));
      g.busy();
      if (iec) break;
      buffer.commit(n);
    }
    if constexpr (report) began = clock::now();
    // The bytes just read usually hold the whole request: parse them here. Beast's async_read
    // would first post itself to the executor, which costs a scheduler round and an epoll_wait
    // call per request before it parses what is already buffered.
    boost::system::error_code rec = reader.parse(buffer);
    if (!rec && !reader.done()) {
      g.expire_in(request_timeout<Server>());
      auto [ec, n] = co_await reader.read(sock, buffer);
      rec = ec;
    }
    g.clear_deadline();
    // end_of_stream (client closed), operation_aborted (closed by a timeout), or a request Beast
    // could not parse: the connection ends; none of these is the application's fault. What did
    // not parse is told why first, as any HTTP server would.
    if (rec) {
      if (auto refused = refusal(rec)) co_await write_response(sock, *refused);
      break;
    }
    http::request req = reader.release();
    unsigned const version = req.version();
    [[maybe_unused]] std::string method;
    [[maybe_unused]] std::string target;
    if constexpr (report) {
      method = req.method_string();
      target = req.target();
    }
    bool keep_alive = req.keep_alive();
    std::chrono::milliseconds const deadline = deadline_of(server, req, conns.request_deadline);
    [[maybe_unused]] clock::time_point entered{};
    if (deadline.count() > 0) entered = clock::now();
    http::response res;
    if constexpr (std::is_same_v<decltype(server.handle(std::move(req))),
                                 asio::awaitable<http::response>>) {
      // An asynchronous handler (`asio::awaitable<response> handle(request)`): other
      // connections of this worker are served while it waits, and the worker's own sweep
      // closes this one at its deadline (the master has nothing to kill).
      busy_scope const busy(conns.slot, req.method_string(), req.target(), peer);
      if (deadline.count() > 0) g.expire_in(deadline);
      res = co_await server.handle(std::move(req));
      if (!sock.is_open()) break;  // past its deadline: closed meanwhile
      g.clear_deadline();
    } else {
      // Taken before `req` is moved into the handler, and kept until it returns. Past the
      // deadline the worker's loop cannot act (the handler holds it): the master kills it.
      busy_scope const busy(conns.slot, req.method_string(), req.target(), peer, deadline);
      res = server.handle(std::move(req));
    }
    // A handler that returned past its deadline is answered, and the connection then closed.
    if (deadline.count() > 0 && clock::now() - entered >= deadline) keep_alive = false;
    res.version(version);
    // A stopping worker answers the request it has read, then closes: "Connection: close" tells
    // the client not to send another one here. The stop flag is read too: the signal may have
    // arrived while `handle` ran, before the event loop got to it.
    keep_alive = keep_alive && !conns.stopping() && stop_requested == 0;
    res.keep_alive(keep_alive);
    if (!res.has_content_length() && !res.chunked()) res.prepare_payload();
    auto [wec, wn] = co_await write_response(sock, res);
    if constexpr (report) {
      if (!wec) {
        hooks.emit(events::client_request{
            hooks.id(), method, target, version, res.result_int(), res.payload_size().value_or(0),
            remote, std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - began)});
      }
    }
    if (wec || !keep_alive) break;
  }
  // Closing the socket (its destructor) sends the FIN; a shutdown() first would only cost a
  // system call per connection.
}

/// Makes HTTP servers runnable by the worker (see `http_server`).
template <class Server>
requires http_server<Server>
struct http_runner<Server> {
  static constexpr bool available = true;
  template <class Hooks>
  static auto session(Server& server, connection_set& conns, Hooks& hooks) {
    return [&server, &conns, &hooks](stream sock, peer_address const& peer) {
      return http_session(server, std::move(sock), conns, hooks, peer);
    };
  }
};

}  // namespace cluster::detail

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/server/impl/http.ipp>
#endif
