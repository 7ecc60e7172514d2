// SPDX-License-Identifier: BSL-1.0
// The accept loop a worker runs on the inherited listeners, and the session of a TCP server.
#pragma once

#include <cluster/events.hpp>
#include <cluster/os/address.hpp>
#include <cluster/server/concepts.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace cluster::detail {

namespace asio = boost::asio;

/// The open connections of one worker: which sit idle between requests, and when each must
/// have made progress.
///
/// A graceful stop closes the idle ones at once (a keep-alive client would otherwise hold the
/// worker until `timeout`) and lets busy ones finish; `on_drained` runs when none is left.
/// Deadlines are coarse: `sweep`, run by a timer a few times a second, closes the connections
/// whose deadline passed. That costs one clock read per request instead of arming and cancelling
/// a kernel timer for every read.
class connection_set {
 public:
  using clock = std::chrono::steady_clock;

  /// Registers one connection for its lifetime; `sock` is null for connections that are never
  /// closed by the worker (a TCP server's, which belong to the user's `serve`).
  class guard {
   public:
    guard(connection_set& set, stream* sock) : set_(set), sock_(sock) {
      ++set_.active_;
      if (sock_) set_.tracked_.insert(this);
    }
    guard(guard const&) = delete;
    guard& operator=(guard const&) = delete;
    ~guard() {
      if (sock_) set_.tracked_.erase(this);
      --set_.active_;
      set_.check_drained();
    }
    /// Marks the connection idle, waiting for a request that must start within `d`. Becoming
    /// idle is the connection's last sign of life, from which a draining worker counts its
    /// grace period: in a stopping worker an idle connection waits no longer than that, whatever
    /// `d`. One clock read serves both.
    void wait_request(std::chrono::milliseconds d) noexcept {
      idle_ = true;
      idle_since_ = clock::now();
      deadline_ = idle_since_ + d;
      if (set_.stopping_ && idle_since_ + drain_grace < deadline_)
        deadline_ = idle_since_ + drain_grace;
    }
    /// Marks the connection busy: a request is being read or served.
    void busy() noexcept { idle_ = false; }
    /// Closes the connection if it is still waiting `d` from now; `clear_deadline` disarms.
    void expire_in(std::chrono::milliseconds d) noexcept { deadline_ = clock::now() + d; }
    void clear_deadline() noexcept { deadline_ = clock::time_point::max(); }

   private:
    friend class connection_set;
    void close() noexcept {
      boost::system::error_code ec;
      // close() completes the session's pending operation with operation_aborted, ending it.
      sock_->close(ec);
      deadline_ = clock::time_point::max();
    }

    connection_set& set_;
    stream* sock_;
    bool idle_ = false;
    clock::time_point idle_since_{};
    clock::time_point deadline_ = clock::time_point::max();
  };

  /// How long a stopping worker keeps an idle keep-alive connection open after its last response.
  ///
  /// Closing an idle connection races with a client that is sending its next request on it: the
  /// request arrives after the close and the client sees a reset, a request lost. Such a client
  /// is within a round trip of its previous response, so the connection is kept open this long
  /// after that response: a request that comes meanwhile is answered with `Connection: close`,
  /// and only a connection quiet for this long (no client mid-send) is closed unanswered.
  static constexpr std::chrono::milliseconds drain_grace{1000};

  [[nodiscard]] bool stopping() const noexcept { return stopping_; }
  [[nodiscard]] std::size_t active() const noexcept { return active_; }

  /// Starts a graceful stop: idle connections close once quiet for `drain_grace` (at once if
  /// they already are), busy ones after their current response; `on_drained` runs when none is
  /// left.
  void begin_stop() {
    if (stopping_) return;
    stopping_ = true;
    auto const now = clock::now();
    for (guard* g : tracked_) {
      if (!g->idle_) continue;
      auto const quiet_at = g->idle_since_ + drain_grace;
      if (quiet_at <= now) {
        g->close();
      } else if (quiet_at < g->deadline_) {
        g->deadline_ = quiet_at;
      }
    }
    check_drained();
  }

  /// Closes the connections whose deadline is past `now`.
  void sweep(clock::time_point now) {
    for (guard* g : tracked_) {
      if (g->deadline_ <= now) g->close();
    }
  }

  std::function<void()> on_drained;

 private:
  void check_drained() {
    if (stopping_ && active_ == 0 && on_drained) on_drained();
  }

  std::size_t active_ = 0;
  bool stopping_ = false;
  std::unordered_set<guard*> tracked_;
};

/// Rethrows an exception that escaped a connection's coroutine out of `io_context::run()`, so
/// that the worker reports it to the master and is replaced.
struct rethrow {
  void operator()(std::exception_ptr const& e) const {
    if (e) std::rethrow_exception(e);
  }
};

using acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol>;

/// A connection's peer address, as accept() returned it.
using peer_address = acceptor::endpoint_type;

/// The acceptors a worker makes from its inherited listening descriptors.
class listeners {
 public:
  /// Wraps each descriptor in `fds`; the acceptor owns the worker's copy of it.
  listeners(asio::io_context& io, std::span<int const> fds) {
    for (int fd : fds) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      // The family decides the protocol Asio must be told about: IPPROTO_TCP for TCP (Asio uses
      // it to set options such as TCP_NODELAY), 0 for unix sockets.
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
      int const family = addr.ss_family;
      asio::generic::stream_protocol proto(family, family == AF_UNIX ? 0 : IPPROTO_TCP);
      auto a = std::make_unique<acceptor>(io);
      a->assign(proto, fd);
      acceptors_.push_back(std::move(a));
    }
  }

  /// Starts one accept loop per listener; `session(stream, peer)` returns the connection's
  /// coroutine.
  template <class Session>
  void start(Session session) {
    for (auto& a : acceptors_) {
      asio::co_spawn(a->get_executor(), accept_loop(*a, session), rethrow{});
    }
  }

  /// Stops accepting: the worker's copies of the listening sockets are closed. The other
  /// workers, and the master, keep theirs, so no connection is refused.
  void close() {
    boost::system::error_code ec;
    for (auto& a : acceptors_) a->close(ec);
  }

 private:
  template <class Session>
  static asio::awaitable<void> accept_loop(acceptor& a, Session session) {
    boost::system::error_code ignored;
    bool const tcp = a.local_endpoint(ignored).protocol().family() != AF_UNIX;
    for (;;) {
      // The peer's address comes with accept() itself: no getpeername() call per connection.
      acceptor::endpoint_type peer;
      auto [ec, sock] = co_await a.async_accept(peer, asio::as_tuple(asio::use_awaitable));
      // A connection accepted just before a graceful stop closed the acceptor (the accept
      // completed, its handler had yet to run) is this worker's: it is served below, never
      // dropped, or its client's first request would be lost.
      if (ec == asio::error::operation_aborted || (ec && !a.is_open())) co_return;
      if (ec) {
        // Out of descriptors (EMFILE/ENFILE) or a connection reset before accept: pause briefly
        // instead of spinning on a listener that stays readable.
        asio::steady_timer t(a.get_executor(), std::chrono::milliseconds(10));
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      if (tcp) {
        // Responses are written whole; Nagle's delay would only add latency to keep-alive.
        int const one = 1;
        ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      asio::co_spawn(a.get_executor(), session(std::move(sock), peer), rethrow{});
      if (!a.is_open()) co_return;
    }
  }

  std::vector<std::unique_ptr<acceptor>> acceptors_;
};

/// Worker-side events for a worker without plugins that handle them (and for tests): none.
struct no_hooks {
  template <class Event>
  static constexpr bool wants = false;
  template <class Event>
  void emit(Event const& /*ev*/) noexcept {}
  [[nodiscard]] static unsigned id() noexcept { return 0; }
};

/// Reports one client connection to the worker's plugins, from its opening to its close. Costs
/// nothing when no plugin handles either event.
template <class Hooks>
class client_scope {
 public:
  explicit client_scope(Hooks& hooks) : hooks_(hooks) {
    if constexpr (Hooks::template wants<events::client_connection>)
      hooks_.emit(events::client_connection{hooks_.id()});
  }
  client_scope(client_scope const&) = delete;
  client_scope& operator=(client_scope const&) = delete;
  ~client_scope() {
    if constexpr (Hooks::template wants<events::client_disconnection>)
      hooks_.emit(events::client_disconnection{hooks_.id()});
  }

 private:
  Hooks& hooks_;
};

/// The peer of a connection as text: `127.0.0.1:51234`, `[::1]:51234`, or `unix`.
inline std::string peer_name(peer_address const& peer) {
  std::string text = os::address_text(peer.data(), peer.size());
  return text.empty() ? std::string("unix") : text;
}

/// One connection of a TCP server: the user's `serve`, counted for graceful stops.
template <class Server, class Hooks = no_hooks>
asio::awaitable<void> tcp_session(Server& server, stream sock, connection_set& conns,
                                  Hooks& hooks) {
  // The peer address is not given to a TCP server's sessions: `serve` can ask its socket.
  connection_set::guard g(conns, nullptr);
  client_scope<Hooks> client(hooks);
  // clang-tidy 14 sees the coroutine frame's cleanup as a use after this move (a false positive).
  co_await server.serve(std::move(sock));  // NOLINT(bugprone-use-after-move)
}

}  // namespace cluster::detail
