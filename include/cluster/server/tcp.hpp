// SPDX-License-Identifier: BSL-1.0
// What a worker's event loop keeps of its connections, and the session of a TCP server. The accept
// loop itself is not a template: see serve_connections in <cluster/worker.hpp>.
#pragma once

#include <cluster/events.hpp>
#include <cluster/ipc/scoreboard.hpp>
#include <cluster/os/address.hpp>
#include <cluster/server/concepts.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

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

  /// The worker's scoreboard slot, where the request whose handler runs is recorded (see
  /// `ipc::enter_request`); null when it has none.
  ipc::worker_slot* slot = nullptr;
  /// The `request deadline` setting: how long one HTTP request's handler may run; 0: none.
  std::chrono::milliseconds request_deadline{0};

 private:
  void check_drained() {
    if (stopping_ && active_ == 0 && on_drained) on_drained();
  }

  std::size_t active_ = 0;
  bool stopping_ = false;
  std::unordered_set<guard*> tracked_;
};

/// A connection's peer address, as accept() returned it.
using peer_address = stream_protocol::endpoint;

/// Records in the worker's scoreboard slot, for its lifetime, that a request's handler runs: if
/// the worker hangs in it, the master reports that request.
class busy_scope {
 public:
  /// `deadline`: how long the handler may run before the master kills the worker (0: no limit).
  busy_scope(ipc::worker_slot* slot, std::string_view method, std::string_view target,
             peer_address const& peer, std::chrono::milliseconds deadline = {}) noexcept
      : slot_(slot),
        serial_(slot ? ipc::enter_request(*slot, method, target, peer.data(), peer.size(),
                                          deadline.count())
                     : 0) {}
  busy_scope(busy_scope const&) = delete;
  busy_scope& operator=(busy_scope const&) = delete;
  ~busy_scope() {
    if (slot_) ipc::leave_request(*slot_, serial_);
  }

 private:
  ipc::worker_slot* slot_;
  std::uint64_t serial_;
};

/// Makes the coroutine that serves one accepted connection: what a worker's server contributes
/// to its otherwise non-template event loop (see `serve_connections` in <cluster/worker.hpp>).
using session_factory = std::function<asio::awaitable<void>(stream, peer_address const&)>;

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
