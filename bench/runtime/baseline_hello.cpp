// SPDX-License-Identifier: BSL-1.0
// The baseline: the same handler in a hand-written pre-fork server that only re-forks dead workers.
#include "handler.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

// One keep-alive HTTP/1.1 connection, as cluster's HTTP adapter serves it.
static asio::awaitable<void> session(tcp::socket sock) {
  boost::beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    auto [rec, rn] =
        co_await http::async_read(sock, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (rec) break;
    bench::request req = parser.release();
    bool const keep = req.keep_alive();
    bench::response res = bench::hello(req);
    res.keep_alive(keep);
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(sock, res, asio::as_tuple(asio::use_awaitable));
    if (wec || !keep) break;
  }
}

static asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) continue;
    sock.set_option(tcp::no_delay(true));
    asio::co_spawn(acceptor.get_executor(), session(std::move(sock)), asio::detached);
  }
}

// One worker: its own event loop on the inherited listening socket, until it is killed.
static pid_t start_worker(int fd) {
  pid_t const pid = ::fork();
  if (pid != 0) return pid;
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  asio::io_context io(1);
  tcp::acceptor acceptor(io, tcp::v4(), fd);
  asio::co_spawn(io, accept_loop(acceptor), asio::detached);
  io.run();
  ::_exit(0);
}

int main() {
  char const* port_text = std::getenv("PORT");
  char const* workers_text = std::getenv("WEB_CONCURRENCY");
  int const workers = workers_text ? std::atoi(workers_text) : 2;
  // Bind in the parent, fork, accept in each child: the classic pre-fork server.
  asio::io_context bind_ctx;
  tcp::acceptor listener(bind_ctx,
                         {asio::ip::make_address("127.0.0.1"),
                          static_cast<unsigned short>(port_text ? std::atoi(port_text) : 0)});
  std::fprintf(stderr, "baseline: listening on 127.0.0.1:%u\n", listener.local_endpoint().port());
  int const fd = listener.release();
  // The least supervision that keeps the worker count and leaves no zombie: SIGCHLD and SIGTERM
  // are taken synchronously with sigwait(), a dead worker is forked again at once, and SIGTERM is
  // passed on to the workers, which are reaped before the parent exits.
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGCHLD);
  ::sigaddset(&set, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  std::vector<pid_t> children;
  for (int i = 0; i < workers; ++i) children.push_back(start_worker(fd));
  for (int sig = 0; sig != SIGTERM;) {
    ::sigwait(&set, &sig);
    for (pid_t dead; (dead = ::waitpid(-1, nullptr, WNOHANG)) > 0;) {
      std::erase(children, dead);
      children.push_back(start_worker(fd));
    }
  }
  for (pid_t child : children) ::kill(child, SIGTERM);
  while (::wait(nullptr) > 0) {
  }
}
