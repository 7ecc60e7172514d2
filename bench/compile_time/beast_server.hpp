// SPDX-License-Identifier: BSL-1.0
// The baseline: a single-process HTTP/1.1 keep-alive server written by hand with Asio coroutines
// and Beast, roughly what a user writes today before reaching for a process manager.
#pragma once

#include "http_types.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <utility>

namespace bench {

namespace asio = boost::asio;

template <class Handler>
asio::awaitable<void> session(asio::ip::tcp::socket sock, Handler& handler) {
  namespace http = boost::beast::http;
  boost::beast::flat_buffer buffer;
  for (;;) {
    request req;
    auto [rec, rn] =
        co_await http::async_read(sock, buffer, req, asio::as_tuple(asio::use_awaitable));
    if (rec) break;
    bool const keep_alive = req.keep_alive();
    response res = handler(req);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(sock, res, asio::as_tuple(asio::use_awaitable));
    if (wec || !keep_alive) break;
  }
}

template <class Handler>
asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor, Handler& handler) {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    // A failed accept (out of descriptors, a reset connection) must not stop the server.
    if (ec) continue;
    asio::co_spawn(acceptor.get_executor(), session(std::move(sock), handler), asio::detached);
  }
}

/// Serves `handler` on 127.0.0.1:$PORT (default 8080) until SIGINT or SIGTERM.
template <class Handler>
int serve_by_hand(Handler handler) {
  char const* port = std::getenv("PORT");
  try {
    asio::io_context io(1);
    asio::ip::tcp::acceptor acceptor(io,
                                     {asio::ip::make_address("127.0.0.1"),
                                      static_cast<unsigned short>(port ? std::atoi(port) : 8080)});
    std::printf("listening on 127.0.0.1:%u\n", acceptor.local_endpoint().port());
    asio::signal_set stop(io, SIGINT, SIGTERM);
    stop.async_wait([&](auto, int) { io.stop(); });
    asio::co_spawn(io, accept_loop(acceptor, handler), asio::detached);
    io.run();
    return 0;
  } catch (std::exception const& e) {
    std::fprintf(stderr, "server: %s\n", e.what());
    return 1;
  }
}

}  // namespace bench
