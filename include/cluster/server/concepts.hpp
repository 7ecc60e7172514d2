// SPDX-License-Identifier: BSL-1.0
// What a Server is: the members the workers look for, and the context an abstract worker gets.
#pragma once

#include <cluster/config/concepts.hpp>
#include <cluster/server/protocol.hpp>
#include <cluster/server/stop_flag.hpp>

#include <boost/asio/awaitable.hpp>

#include <poll.h>

#include <chrono>
#include <concepts>
#include <csignal>
#include <type_traits>
#include <utility>

namespace cluster {

/// The Server contract: a Server is recognised by its members, checked in this order.
///
/// - **Abstract server** (no listener; every worker runs it): a member `work`, either
///   `void work(cluster::worker_context&)` or `void work()`. A type is abstract exactly when
///   `requires { &S::work; }` holds, so `work` must not be overloaded or a template.
///   `cluster::job(fn)` makes an abstract server from a function.
/// - **HTTP server**: a member `handle` taking `cluster::http::request const&` (or `&&`) and
///   returning `cluster::http::response`, or `boost::asio::awaitable<cluster::http::response>`
///   for a handler that waits without holding the worker. Optional members
///   `static constexpr std::chrono::milliseconds keep_alive_timeout` (idle time between
///   requests, default 5 s) and `request_timeout` (receiving one request, default 60 s). Needs
///   `#include <cluster/server/http.hpp>`, which is the only header that includes Boost.Beast. Each
///   worker serves HTTP/1.1 with keep-alive.
/// - **TCP server**: a member `boost::asio::awaitable<void> serve(cluster::stream)`, a coroutine
///   run once per accepted connection; the stream works for TCP and unix socket listeners.
///
/// A Server given as a type is default-constructed inside each worker, after the worker dropped
/// privileges; a Server given as an object is built in the master and inherited through fork().
/// An exception escaping the constructor, `work`, `handle` or `serve` ends the worker: the master
/// reports it (`events::worker_exception`) and starts a replacement.

/// True once the master asked this worker to stop gracefully (shutdown, or fewer workers);
/// always false outside a worker.
///
/// A graceful stop waits for every open connection of a TCP server, and the worker is killed
/// `timeout` after the request. A `serve` coroutine that keeps a connection open for long checks
/// `stopping()` between messages and returns, so that its client is told and the worker exits.
///
/// Example: `if (cluster::stopping()) co_return;` after each message a `serve` loop answers.
[[nodiscard]] inline bool stopping() noexcept { return detail::stop_requested != 0; }

/// What an abstract server's `work` is given: its id and whether it is asked to stop.
class worker_context {
 public:
  /// Work the worker's plugins do between jobs (the `tick` and `reopen` events), run from
  /// `sleep_for` on the job's own thread.
  using housekeeping_fn = void (*)(void* arg);

  worker_context(unsigned id, int stop_fd, housekeeping_fn housekeeping = nullptr,
                 void* arg = nullptr) noexcept
      : id_(id), stop_fd_(stop_fd), housekeeping_(housekeeping), arg_(arg) {}

  /// This worker's id, 0..N-1 (also in the `CLUSTER_WORKER` environment variable).
  [[nodiscard]] unsigned id() const noexcept { return id_; }

  /// True once the master asked this worker to stop gracefully (shutdown or fewer workers).
  ///
  /// A `work` loop should check it between jobs and return; a worker still running `timeout`
  /// after the request is killed.
  [[nodiscard]] bool stopping() const noexcept;

  /// Waits up to `d`, returning early when a stop is requested; returns `!stopping()`.
  ///
  /// While it waits, the worker's plugins get `tick` (four times a second) and `reopen` (after
  /// SIGUSR1), on this thread: a job that sleeps through `sleep_for` has its logs rotated like an
  /// HTTP worker. An exception from a plugin's handler comes out of here, and ends the worker
  /// like any exception from `work`.
  ///
  /// Example: `while (ctx.sleep_for(std::chrono::seconds(1))) poll_queue();`
  bool sleep_for(std::chrono::milliseconds d) const;

 private:
  /// The longest wait between two housekeeping runs (the pace of `tick`).
  static constexpr std::chrono::milliseconds housekeeping_interval{250};

  unsigned id_;
  int stop_fd_;
  housekeeping_fn housekeeping_;
  void* arg_;
};

inline bool worker_context::stopping() const noexcept { return detail::stop_requested != 0; }

inline bool worker_context::sleep_for(std::chrono::milliseconds d) const {
  using clock = std::chrono::steady_clock;
  if (stopping()) return false;
  auto const until = clock::now() + d;
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(until - clock::now());
    if (left.count() <= 0) break;
    if (housekeeping_ && left > housekeeping_interval) left = housekeeping_interval;
    // The stop handler writes to a pipe whose read end is `stop_fd_`: poll() on it wakes at once
    // on a stop request, where a plain sleep would hold the worker for the whole delay.
    pollfd p{stop_fd_, POLLIN, 0};
    ::poll(&p, stop_fd_ >= 0 ? 1 : 0, static_cast<int>(left.count()));
    if (stopping()) return false;
    if (housekeeping_) housekeeping_(arg_);
  }
  return !stopping();
}

// `abstract_server` (a member `work`) is declared with the configuration's concepts, which must
// tell listening servers from abstract ones without including Asio.

/// True for an HTTP server: not abstract, and with a member `handle`.
template <class S>
concept http_server = !abstract_server<S> && requires {
  &S::handle;
};

/// True for a TCP server: a per-connection coroutine `serve(cluster::stream)`.
template <class S>
concept tcp_server = !abstract_server<S> && !http_server<S> && requires(S & s, stream&& sock) {
  { s.serve(std::move(sock)) } -> std::same_as<boost::asio::awaitable<void>>;
};

/// An abstract server that runs a function: what `cluster::job(fn)` returns.
template <class F>
struct job_server {
  F fn;

  void work(worker_context& ctx) {
    if constexpr (std::is_invocable_v<F&, worker_context&>) {
      fn(ctx);
    } else {
      fn();
    }
  }
};

/// Makes an abstract server from `fn`, called as `fn(ctx)` or `fn()` in every worker.
///
/// Example: `cluster::job([](cluster::worker_context& ctx) { while (ctx.sleep_for(1s)) poll(); })`
template <class F>
job_server<std::decay_t<F>> job(F&& fn) {
  return {std::forward<F>(fn)};
}

namespace detail {

/// Runs an HTTP server's sessions; defined by <cluster/server/http.hpp> for HTTP servers.
template <class Server>
struct http_runner {
  static constexpr bool available = false;
};

}  // namespace detail

}  // namespace cluster
