// SPDX-License-Identifier: BSL-1.0
// The program the integration tests run as a master: one server kind per command-line mode.
#include "test_config.hpp"

#include <cluster/cluster.hpp>
#include <cluster/master.hpp>
#include <cluster/server/http.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

/// Where `/hang` blocks forever: outside the anonymous namespace, so that the program's dynamic
/// symbol table (the program is linked with ENABLE_EXPORTS) names it in a hung worker's trace.
namespace cluster_test {
void hang_in_handler();
[[gnu::noinline]] void hang_in_handler() {
  std::fprintf(stderr, "hanging in handler pid=%d\n", ::getpid());
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}
}  // namespace cluster_test

namespace {

/// Set when the file named by `CLUSTER_TEST_BREAK_FILE` exists as a worker starts: its content
/// says how the worker fails (`throw`: its server cannot be built; `hang`: it never accepts;
/// `fatal`: it throws `cluster::fatal_error`; `kill`: it dies of SIGKILL, reporting nothing).
/// A test creates the file to make a freshly started master (a bad deploy) fail.
void maybe_break() {
  char const* path = std::getenv("CLUSTER_TEST_BREAK_FILE");
  if (!path || !std::filesystem::exists(path)) return;
  std::ifstream in(path);
  std::string how;
  in >> how;
  if (how == "hang") {
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (how == "fatal") throw cluster::fatal_error("no configuration (" + std::string(path) + ")");
  if (how == "kill") std::raise(SIGKILL);
  throw std::runtime_error("broken deploy (" + std::string(path) + ")");
}

/// `/` answers `pid=P worker=N`; `/slow?ms=N` answers after N ms; `/leak?mb=N` keeps N MiB
/// more; `/throw` throws; `/fatal` throws
/// `cluster::fatal_error`; `/hang` never returns; `/orphan`
/// leaves an orphaned grandchild that exits 100 ms later (its pid is in the body).
struct http_app {
  http_app() { maybe_break(); }
  /// `CLUSTER_TEST_CRASH_WORKER=N`: worker N exits with status 70 on every request.
  std::optional<unsigned> crashing_worker = [] {
    std::optional<unsigned> id;
    if (char const* v = std::getenv("CLUSTER_TEST_CRASH_WORKER"))
      id = static_cast<unsigned>(std::atoi(v));
    return id;
  }();
  /// `/upload...` is a long route: no request deadline; `/report...` a slow one, 4 s; the others
  /// have the configured one.
  std::optional<std::chrono::milliseconds> request_deadline(cluster::http::request const& req) {
    if (req.target().starts_with("/upload")) return std::chrono::milliseconds(0);
    if (req.target().starts_with("/report")) return std::chrono::milliseconds(4000);
    return std::nullopt;
  }
  cluster::http::response handle(cluster::http::request const& req) {
    std::string_view const target = req.target();
    // A worker that crashes on every request (a poisoned build on one worker id).
    if (crashing_worker && crashing_worker == cluster::worker_id()) std::_Exit(70);
    if (target.starts_with("/slow") || target.starts_with("/upload") ||
        target.starts_with("/report")) {
      int ms = 0;
      if (auto pos = target.find("ms="); pos != std::string_view::npos) {
        std::from_chars(target.data() + pos + 3, target.data() + target.size(), ms);
      }
      std::fprintf(stderr, "slow request started pid=%d\n", ::getpid());
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    if (target.starts_with("/leak")) {
      // Keeps N MiB, written so that the pages are this worker's own (its PSS grows).
      int mb = 0;
      if (auto pos = target.find("mb="); pos != std::string_view::npos)
        std::from_chars(target.data() + pos + 3, target.data() + target.size(), mb);
      static std::vector<std::vector<char>> kept;
      kept.emplace_back(static_cast<std::size_t>(mb) << 20U, 'x');
    }
    if (target == "/throw") throw std::runtime_error("handler failed on purpose");
    if (target == "/fatal") throw cluster::fatal_error("the licence expired");
    if (target.starts_with("/hang")) cluster_test::hang_in_handler();
    cluster::http::response res{cluster::http::status::ok, req.version()};
    if (target.starts_with("/env/")) {
      std::string const name(target.substr(5));
      char const* value = std::getenv(name.c_str());
      res.body() = name + (value ? "=" + std::string(value) : std::string(" unset")) + "\n";
      return res;
    }
    if (target == "/orphan") {
      // The child forks the grandchild and exits at once: the grandchild is re-parented to the
      // nearest subreaper or init, which must reap it when it exits.
      int pipe_fds[2];
      if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe");
      pid_t const child = ::fork();
      if (child == 0) {
        pid_t const grandchild = ::fork();
        if (grandchild == 0) {
          ::usleep(100000);
          ::_exit(0);
        }
        [[maybe_unused]] auto n = ::write(pipe_fds[1], &grandchild, sizeof grandchild);
        ::_exit(0);
      }
      pid_t grandchild = 0;
      [[maybe_unused]] auto n = ::read(pipe_fds[0], &grandchild, sizeof grandchild);
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      ::waitpid(child, nullptr, 0);
      res.body() = "orphan=" + std::to_string(grandchild) + "\n";
      return res;
    }
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

/// An abstract worker built the way many existing Asio programs are: its own io_context, with a
/// `signal_set` for SIGHUP, as a server would have for reloading its configuration. Whatever Asio
/// state the worker inherited from the master must not mix with this one.
struct asio_signals_job {
  void work(cluster::worker_context& ctx) {
    boost::asio::io_context io;
    boost::asio::signal_set signals(io, SIGHUP);
    std::function<void()> wait = [&] {
      signals.async_wait([&](boost::system::error_code ec, int sig) {
        if (ec) return;
        std::fprintf(stderr, "asio job %u got signal %d pid=%d\n", ctx.id(), sig, ::getpid());
        wait();
      });
    };
    wait();
    boost::asio::steady_timer poll(io);
    std::function<void()> check = [&] {
      poll.expires_after(std::chrono::milliseconds(20));
      poll.async_wait([&](boost::system::error_code ec) {
        if (ec) return;
        if (ctx.stopping()) {
          signals.cancel();
          return;
        }
        check();
      });
    };
    check();
    std::fprintf(stderr, "asio job %u running pid=%d\n", ctx.id(), ::getpid());
    io.run();
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

/// Hands a generation counter from each master to its successor: `restarting` puts the count it
/// received plus one, `restart` prints what arrived (`cluster-event: handover generation=N`).
/// Built twice: the second program reads a newer version of the state (CLUSTER_TEST_HANDOVER_V2).
struct handover_probe {
  static constexpr cluster::fixed_string name = "handover probe";
#ifdef CLUSTER_TEST_HANDOVER_V2
  struct handover {
    std::uint64_t generation = 0;
    std::string note;
    std::vector<std::int32_t> ids;
  };
  static constexpr std::uint32_t handover_version = 2;
#else
  struct handover {
    std::uint64_t generation = 0;
    std::string note;
  };
  static constexpr std::uint32_t handover_version = 1;
#endif
  std::uint64_t generation = 0;

  template <class Master>
  void on(cluster::events::restarting const& e, Master& m) {
    handover h{};
    h.generation = generation + 1;
    h.note = "from " + std::to_string(::getpid()) + " with " + std::to_string(m.worker_count());
    e.state.template put<handover_probe>(h);
  }
  template <class Master>
  void on(cluster::events::restart const& e, Master&) {
    if (auto h = e.state.template get<handover_probe>()) {
      generation = h->generation;
      std::fprintf(stderr, "cluster-event: handover generation=%llu note=%s\n",
                   static_cast<unsigned long long>(h->generation), h->note.c_str());
    } else {
      std::fprintf(stderr, "cluster-event: handover none\n");
    }
  }
};

template <class Server, class SignalPolicy = void, class Plugin = cluster::testing::no_plugin>
int run() {
  cluster::testing::test_config<Server, SignalPolicy, Plugin> cfg;
  return cluster::master<decltype(cfg)>(cfg).run();
}

}  // namespace

int main(int argc, char** argv) {
  // As if every SIGCHLD were lost: the master must learn of its workers' ends without them.
  if (std::getenv("CLUSTER_TEST_BLOCK_SIGCHLD") != nullptr) {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  }
  std::string_view const mode = argc > 1 ? argv[1] : "http";
  if (mode == "http") return run<http_app>();
  if (mode == "handover") return run<http_app, void, handover_probe>();
  if (mode == "container") return run<http_app, cluster::container_signals>();
  if (mode == "impatient") return run<impatient_app>();
  if (mode == "async") return run<async_http_app>();
  if (mode == "broken") return run<broken_app>();
  if (mode == "echo") return run<echo_app>();
  if (mode == "polite-echo") return run<polite_echo_app>();
  if (mode == "job") return run<polite_job>();
  if (mode == "fds") return run<fd_report>();
  if (mode == "stuck") return run<stuck_job>();
  if (mode == "asio-signals") return run<asio_signals_job>();
  if (mode == "ops") return run<http_app, void, operations>();
  if (mode == "lambda") {
    cluster::testing::preloaded_config cfg(cluster::job([] {
      std::fprintf(stderr, "lambda job in worker %u\n", cluster::worker_id().value_or(999));
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    }));
    return cluster::master<decltype(cfg)>(cfg).run();
  }
  if (mode == "const-lambda") {
    // The same through the real builder, itself const: run() resolves it and hands the workers
    // the resolved configuration's own copy of the server, never a write through the builder.
    auto const config = cluster::cluster(cluster::job([] {
                          std::fprintf(stderr, "const lambda job in worker %u\n",
                                       cluster::worker_id().value_or(999));
                          for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
                        })).set<"workers">(2);
    return config.run(argc, argv);
  }
  if (mode == "builder") {
    // The HTTP server through the real builder, its timers given at run time as an application
    // reads them from its environment: what start-up checks of a configuration, it checks here.
    auto const ms = [](char const* name, long fallback) {
      char const* v = std::getenv(name);
      return std::chrono::milliseconds(v != nullptr ? std::atol(v) : fallback);
    };
    return cluster::cluster<http_app>()
        .set<"workers">(2)
        .set<"timeout">(cluster::runtime(ms("CLUSTER_TEST_TIMEOUT_MS", 60000)))
        .set<"request deadline">(cluster::runtime(ms("CLUSTER_TEST_DEADLINE_MS", 0)))
        .listen(0, "127.0.0.1")
        .run(argc, argv);
  }
  std::fprintf(stderr,
               "Usage: %s "
               "http|handover|impatient|async|container|broken|echo|polite-echo|job|stuck|asio-"
               "signals|fds|ops|"
               "lambda|"
               "const-lambda|builder\n",
               argv[0]);
  return 2;
}
