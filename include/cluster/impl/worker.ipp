// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/worker.hpp>'s non-template part, the event loop of a worker that serves
// connections: inline in each program (header-only), or compiled once into cluster::compiled
// (see <cluster/src.hpp>).
#pragma once

#include <cluster/worker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace cluster::detail {

CLUSTER_DECL void report_worker_failure(worker_setup const& w, std::string text) {
  ipc::send(w.channel_fd, {ipc::message_type::exception, 0, std::move(text)});
}

CLUSTER_DECL int start_worker(worker_setup const& w) {
  std::string const id = std::to_string(w.id);
  ::setenv("CLUSTER_WORKER", id.c_str(), 1);
  os::set_process_title(w.title);
  if (!os::drop_privileges(w.credentials)) {
    report_worker_failure(w, std::string("cluster: worker cannot switch to the configured "
                                         "user/group: ") +
                                 std::strerror(errno));
    return -1;
  }
  // The stop pipe is the worker's own; its write end is non-blocking so that a burst of signals
  // can never block the handler, and stays open until the process exits.
  os::pipe_ends stop = os::make_pipe();
  os::set_nonblocking(stop.write.get(), true);
  stop_pipe_write = stop.write.release();
  install_worker_signals();
  os::install_trace_handler(w.trace_fd, w.slot);
  os::unblock_signals();
  return stop.read.release();
}

/// Rethrows an exception that escaped a connection's coroutine out of `io_context::run()`, so
/// that the worker reports it to the master and is replaced.
struct rethrow {
  void operator()(std::exception_ptr const& e) const {
    if (e) std::rethrow_exception(e);
  }
};

/// The acceptors a worker makes from its inherited listening descriptors.
class listeners {
  using acceptor = asio::basic_socket_acceptor<stream_protocol>;

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
      stream_protocol proto(family, family == AF_UNIX ? 0 : IPPROTO_TCP);
      auto a = std::make_unique<acceptor>(io);
      a->assign(proto, fd);
      acceptors_.push_back(std::move(a));
    }
  }

  /// Starts one accept loop per listener; `session(stream, peer)` returns the connection's
  /// coroutine.
  void start(session_factory const& session) {
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
  static asio::awaitable<void> accept_loop(acceptor& a, session_factory session) {
    boost::system::error_code ignored;
    bool const tcp = a.local_endpoint(ignored).protocol().family() != AF_UNIX;
    for (;;) {
      // The peer's address comes with accept() itself: no getpeername() call per connection.
      peer_address peer;
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

CLUSTER_DECL int serve_connections(worker_setup const& w, int stop_fd, connection_set& conns,
                                   session_factory const& session, std::function<void()> on_sweep) {
  asio::io_context io(1);
  listeners ls(io, w.listener_fds);
  conns.on_drained = [&io] { io.stop(); };
  // Only a master that checks liveness reads the request in flight: otherwise it costs nothing.
  if (w.record_requests) conns.slot = w.slot;
  conns.request_deadline = w.request_deadline;

  asio::steady_timer waiting(io);
  std::function<void()> report_waiting = [&] {
    ipc::send(w.channel_fd,
              {ipc::message_type::waiting, static_cast<std::uint32_t>(conns.active()), {}});
    waiting.expires_after(waiting_interval);
    waiting.async_wait([&](boost::system::error_code ec) {
      if (!ec) report_waiting();
    });
  };
  auto begin_stop = [&] {
    if (conns.stopping()) return;
    ls.close();
    conns.begin_stop();
    if (conns.active() > 0) report_waiting();
  };

  // Connection deadlines (HTTP keep-alive and request timeouts) are checked four times a second,
  // and the scoreboard heartbeat goes with them: a worker whose loop is stuck stops beating.
  asio::steady_timer sweeper(io);
  std::function<void()> sweep = [&] {
    beat(w);
    sweeper.expires_after(beat_interval);
    sweeper.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      conns.sweep(connection_set::clock::now());
      if (on_sweep) on_sweep();
      sweep();
    });
  };
  sweep();

  asio::posix::stream_descriptor stop_watch(io, stop_fd);
  stop_watch.async_wait(asio::posix::stream_descriptor::wait_read,
                        [&](boost::system::error_code ec) {
                          if (!ec) begin_stop();
                        });
  asio::posix::stream_descriptor death_watch(io, w.death_fd);
  death_watch.async_wait(asio::posix::stream_descriptor::wait_read,
                         [](boost::system::error_code ec) {
                           // EOF: the master is gone, and nobody would replace or stop us.
                           if (!ec) os::exit_child(0);
                         });

  ls.start(session);
  ipc::send(w.channel_fd, {ipc::message_type::connected, 0, {}});
  if (stop_requested) begin_stop();
  try {
    io.run();
  } catch (...) {
    // `conns` outlives this loop: the sessions still open end while `io` is destroyed, and must
    // not stop it then.
    conns.on_drained = nullptr;
    throw;
  }
  conns.on_drained = nullptr;
  return 0;
}

}  // namespace cluster::detail
