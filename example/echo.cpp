// Example: a TCP echo server, one Asio coroutine per connection, on every core
//   build/example/echo         (PORT=7000 build/example/echo; then: nc localhost 7000)
#include <cluster/cluster.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

namespace asio = boost::asio;

/// The server: `serve` runs once per accepted connection, in the worker that accepted it.
struct echo {
  asio::awaitable<void> serve(cluster::stream socket) {
    char data[4096];
    for (;;) {
      // as_tuple: the client closing is the normal end, not an exception (an exception escaping
      // serve() would count as the worker crashing).
      auto [ec, n] =
          co_await socket.async_read_some(asio::buffer(data), asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(data, n),
                                                  asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
      // A graceful stop (SIGQUIT) waits for every open connection: end this one once the
      // message in hand is answered, instead of holding the worker until `timeout` kills it.
      if (cluster::stopping()) co_return;
    }
  }
};

static unsigned from_env(char const* name, unsigned fallback) {
  char const* text = std::getenv(name);
  unsigned value = fallback;
  if (text && *text) std::from_chars(text, text + std::string_view(text).size(), value);
  return value;
}

int main(int argc, char** argv) {
  if (argc > 1) {
    std::fprintf(stderr, "Usage: %s\n  PORT=7000 WEB_CONCURRENCY=2 %s\n", argv[0], argv[0]);
    return 2;
  }
  unsigned const cpus = std::thread::hardware_concurrency();
  return cluster::cluster<echo>()
      .set<"workers">(cluster::runtime(from_env("WEB_CONCURRENCY", cpus ? cpus : 1)))
      .listen(cluster::runtime(from_env("PORT", 7000)))
      .run(argc, argv);
}
