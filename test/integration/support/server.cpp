// SPDX-License-Identifier: BSL-1.0
// The program the integration tests run as a master: one server kind per command-line mode.
#include "test_config.hpp"

#include <cluster/master.hpp>
#include <cluster/server/http.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace {

/// `/` answers `pid=P worker=N`; `/slow?ms=N` answers after N ms; `/throw` throws.
struct http_app {
  cluster::http::response handle(cluster::http::request const& req) {
    std::string_view const target = req.target();
    if (target.starts_with("/slow")) {
      int ms = 0;
      if (auto pos = target.find("ms="); pos != std::string_view::npos) {
        std::from_chars(target.data() + pos + 3, target.data() + target.size(), ms);
      }
      std::fprintf(stderr, "slow request started pid=%d\n", ::getpid());
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    if (target == "/throw") throw std::runtime_error("handler failed on purpose");
    cluster::http::response res{cluster::http::status::ok, req.version()};
    res.set(cluster::http::field::content_type, "text/plain");
    res.body() = "pid=" + std::to_string(::getpid()) +
                 " worker=" + std::to_string(cluster::worker_id().value_or(999)) +
                 " uid=" + std::to_string(::getuid()) + " gid=" + std::to_string(::getgid()) +
                 " groups=" + std::to_string(::getgroups(0, nullptr)) + "\n";
    return res;
  }
};

/// The same with short HTTP timeouts, to see them close connections.
struct impatient_app : http_app {
  static constexpr std::chrono::milliseconds keep_alive_timeout{200};
  static constexpr std::chrono::milliseconds request_timeout{300};
};

/// An asynchronous HTTP handler: `/slow?ms=N` waits on a timer, serving others meanwhile.
struct async_http_app {
  boost::asio::awaitable<cluster::http::response> handle(cluster::http::request req) {
    std::string_view const target = req.target();
    int ms = 0;
    if (auto pos = target.find("ms="); pos != std::string_view::npos) {
      std::from_chars(target.data() + pos + 3, target.data() + target.size(), ms);
    }
    if (ms > 0) {
      std::fprintf(stderr, "async slow request started pid=%d\n", ::getpid());
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                      std::chrono::milliseconds(ms));
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
    cluster::http::response res{cluster::http::status::ok, req.version()};
    res.body() = "async pid=" + std::to_string(::getpid()) + "\n";
    co_return res;
  }
};

/// A server whose constructor always fails, like an application that cannot reach its database.
struct broken_app {
  broken_app() { throw std::runtime_error("database unreachable"); }
  cluster::http::response handle(cluster::http::request const&) { return {}; }
};

/// A TCP echo server.
struct echo_app {
  boost::asio::awaitable<void> serve(cluster::stream sock) {
    char data[4096];
    for (;;) {
      auto [ec, n] = co_await sock.async_read_some(
          boost::asio::buffer(data), boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) co_return;
      co_await boost::asio::async_write(sock, boost::asio::buffer(data, n),
                                        boost::asio::use_awaitable);
    }
  }
};

/// A TCP echo server that says goodbye and closes once the worker is stopping.
struct polite_echo_app {
  boost::asio::awaitable<void> serve(cluster::stream sock) {
    char data[4096];
    for (;;) {
      auto [ec, n] = co_await sock.async_read_some(
          boost::asio::buffer(data), boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) co_return;
      if (cluster::stopping()) {
        co_await boost::asio::async_write(sock, boost::asio::buffer("bye\n", 4),
                                          boost::asio::use_awaitable);
        co_return;
      }
      co_await boost::asio::async_write(sock, boost::asio::buffer(data, n),
                                        boost::asio::use_awaitable);
    }
  }
};

/// An abstract worker that honours graceful stops.
struct polite_job {
  void work(cluster::worker_context& ctx) {
    std::fprintf(stderr, "job %u running pid=%d\n", ctx.id(), ::getpid());
    while (ctx.sleep_for(std::chrono::milliseconds(50))) {
    }
    std::fprintf(stderr, "job %u stopped\n", ctx.id());
  }
};

/// Reports every descriptor above stderr that an exec'd program would inherit.
struct fd_report {
  void work(cluster::worker_context& ctx) {
    int leaked = 0;
    for (auto const& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      int const fd = std::stoi(entry.path().filename().string());
      int const flags = ::fcntl(fd, F_GETFD);
      if (fd > 2 && flags >= 0 && (flags & FD_CLOEXEC) == 0) {
        std::fprintf(stderr, "inheritable fd %d\n", fd);
        ++leaked;
      }
    }
    std::fprintf(stderr, "fd report %u done leaked=%d\n", ctx.id(), leaked);
    while (ctx.sleep_for(std::chrono::milliseconds(100))) {
    }
  }
};

/// An abstract worker that never finishes: a graceful stop must end with a timeout kill.
struct stuck_job {
  void work() {
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
};

/// A plugin that calls one of the master's operations once every worker is up, as a user's
/// plugin would: `CLUSTER_TEST_ACTION` is `spawn-1` (`spawn(-1)`), `kill` (`kill()`, whose
/// default signal is SIGTERM) or `kill-N` (`kill(N)`).
struct operations {
  std::string action = std::getenv("CLUSTER_TEST_ACTION") ? std::getenv("CLUSTER_TEST_ACTION") : "";
  unsigned connected = 0;

  template <class Master>
  void on(cluster::events::worker_connected const&, Master& m) {
    // Replacements connect too: act on the first time every worker is up, and only then.
    if (++connected != m.settings().workers) return;
    std::fprintf(stderr, "test action %s\n", action.c_str());
    if (action == "spawn-1") {
      m.spawn(-1);
    } else if (action == "kill") {
      m.kill();
    } else if (action.starts_with("kill-")) {
      m.kill(std::atoi(action.c_str() + 5));
    }
  }
};

template <class Server, class SignalPolicy = void, class Plugin = cluster::testing::no_plugin>
int run() {
  cluster::testing::test_config<Server, SignalPolicy, Plugin> cfg;
  return cluster::master(cfg).run();
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view const mode = argc > 1 ? argv[1] : "http";
  if (mode == "http") return run<http_app>();
  if (mode == "container") return run<http_app, cluster::container_signals>();
  if (mode == "impatient") return run<impatient_app>();
  if (mode == "async") return run<async_http_app>();
  if (mode == "broken") return run<broken_app>();
  if (mode == "echo") return run<echo_app>();
  if (mode == "polite-echo") return run<polite_echo_app>();
  if (mode == "job") return run<polite_job>();
  if (mode == "fds") return run<fd_report>();
  if (mode == "stuck") return run<stuck_job>();
  if (mode == "ops") return run<http_app, void, operations>();
  if (mode == "lambda") {
    cluster::testing::preloaded_config cfg(cluster::job([] {
      std::fprintf(stderr, "lambda job in worker %u\n", cluster::worker_id().value_or(999));
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    }));
    return cluster::master(cfg).run();
  }
  std::fprintf(
      stderr,
      "Usage: %s http|impatient|async|container|broken|echo|polite-echo|job|stuck|fds|ops|lambda\n",
      argv[0]);
  return 2;
}
