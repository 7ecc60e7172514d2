// SPDX-License-Identifier: BSL-1.0
// What runs inside each worker process: set-up after fork, the server, and the graceful stop.
#pragma once

#include <cluster/fatal.hpp>
#include <cluster/ipc/channel.hpp>
#include <cluster/ipc/scoreboard.hpp>
#include <cluster/ipc/worker_setup.hpp>
#include <cluster/linkage.hpp>
#include <cluster/os/credentials.hpp>
#include <cluster/os/fd.hpp>
#include <cluster/os/hang.hpp>
#include <cluster/os/process.hpp>
#include <cluster/os/title.hpp>
#include <cluster/server/concepts.hpp>
#include <cluster/server/tcp.hpp>
#include <cluster/this_worker.hpp>

#include <boost/hana/at.hpp>
#include <boost/hana/basic_tuple.hpp>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace cluster {

/// This process's worker id, from `CLUSTER_WORKER`; empty in the master (or outside a cluster).
inline std::optional<unsigned> worker_id() noexcept {
  char const* text = std::getenv("CLUSTER_WORKER");
  if (!text || !*text) return std::nullopt;
  unsigned id = 0;
  auto const end = text + std::strlen(text);
  auto const [ptr, ec] = std::from_chars(text, end, id);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return id;
}

/// True in a worker process.
inline bool is_worker() noexcept { return worker_id().has_value(); }

/// True in the master (and in a program that is not run as a cluster at all).
inline bool is_master() noexcept { return !is_worker(); }

namespace detail {

using ipc::worker_setup;

/// How often a draining worker tells the master how many connections it still serves.
inline constexpr std::chrono::milliseconds waiting_interval{1000};

/// Marks the worker alive in its scoreboard slot: its event loop (or its job thread) still runs.
inline void beat(worker_setup const& w) noexcept {
  if (w.slot) w.slot->heartbeat.store(ipc::heartbeat_now(), std::memory_order_relaxed);
}

/// How often a worker beats: the sweep of connection deadlines runs at the same pace.
inline constexpr std::chrono::milliseconds beat_interval{250};

/// Set by SIGUSR1 in a worker: the master reopened the log files, and asks the worker's plugins
/// to do the same (on the next sweep).
inline volatile std::sig_atomic_t reopen_requested = 0;

inline void on_reopen_signal(int) { reopen_requested = 1; }

template <class Plugin, class... Events>
constexpr bool handles_any(events::list<Events...> /*events*/) {
  return (handles<Plugin, Events, this_worker> || ...);
}

/// True when `Plugin` handles some event delivered in a worker.
template <class Plugin>
inline constexpr bool works_in_workers = handles_any<Plugin>(events::worker_events{});

/// The events delivered inside a worker, to the worker's copies of the `Plugins` that handle any.
/// Whether any plugin handles an event is known at compile time: an event nobody handles costs
/// nothing. The type depends on those plugins only, not on the environment: environments that
/// differ in master plugins share one worker (the server's sessions are compiled once for them).
template <class... Plugins>
class worker_hooks {
 public:
  worker_hooks(this_worker& self, Plugins&... plugins) noexcept
      : self_(self), plugins_(&plugins...) {}

  template <class Event>
  static constexpr bool wants = (handles<Plugins, Event, this_worker> || ...);

  template <class Event>
  void emit(Event const& ev) {
    if constexpr (wants<Event>) {
      std::apply([&](auto*... ps) { dispatch(ev, self_, *ps...); }, plugins_);
    }
  }
  [[nodiscard]] unsigned id() const noexcept { return self_.id(); }

 private:
  this_worker& self_;
  std::tuple<Plugins*...> plugins_;
};

/// Calls `f(hooks)` with the worker hooks of the plugins in `plugins` that work in workers.
template <class Tuple, class F>
decltype(auto) with_worker_hooks(Tuple& plugins, this_worker& self, F&& f) {
  constexpr auto picked = []<class... Ps>(boost::hana::basic_tuple<Ps...>*) {
    std::array<std::size_t, sizeof...(Ps) + 1> at{};
    std::size_t n = 0;
    std::size_t i = 0;
    ((works_in_workers<Ps> ? (at[n++] = i++) : i++), ...);
    return std::pair{at, n};
  }(static_cast<Tuple*>(nullptr));
  return [&]<std::size_t... I>(std::index_sequence<I...>)->decltype(auto) {
    worker_hooks<std::remove_reference_t<decltype(boost::hana::at_c<picked.first[I]>(plugins))>...>
    hooks(self, boost::hana::at_c<picked.first[I]>(plugins)...);
    return f(hooks);
  }
  (std::make_index_sequence<picked.second>{});
}

/// Write end of the worker's stop pipe, for the signal handler.
inline int stop_pipe_write = -1;

/// SIGQUIT in a worker: the master asks for a graceful stop.
///
/// Only async-signal-safe work: set a flag and write one byte to a pipe that the event loop (or
/// `worker_context::sleep_for`) watches. errno is saved because write() may change it under the
/// interrupted code.
inline void on_stop_signal(int) {
  int const saved = errno;
  stop_requested = 1;
  if (stop_pipe_write >= 0) {
    char const byte = 1;
    [[maybe_unused]] auto n = ::write(stop_pipe_write, &byte, 1);
  }
  errno = saved;
}

inline void install_worker_signals() {
  struct sigaction sa {};
  sa.sa_handler = &on_stop_signal;
  ::sigemptyset(&sa.sa_mask);
  // SA_RESTART: a job blocked in read() or the like keeps going; it sees stopping() later.
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGQUIT, &sa, nullptr);
  // SIGUSR1: reopen log files. Handled in every worker, so that the signal never kills one.
  struct sigaction reopen {};
  reopen.sa_handler = &on_reopen_signal;
  ::sigemptyset(&reopen.sa_mask);
  reopen.sa_flags = SA_RESTART;
  ::sigaction(SIGUSR1, &reopen, nullptr);
  // Ctrl-C in a terminal signals the whole process group. The master turns SIGINT into a
  // shutdown of every worker; a worker dying of it on its own would only look like a crash.
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  ::sigemptyset(&ign.sa_mask);
  ::sigaction(SIGINT, &ign, nullptr);
}

/// For abstract workers, which have no event loop: a thread that ends the process when the
/// master's end of the death pipe closes, and meanwhile beats in the scoreboard (for a job, being
/// alive is all the master can know).
inline void watch_master_in_thread(worker_setup const& w) {
  std::thread([death_fd = w.death_fd, slot = w.slot] {
    for (;;) {
      if (slot) slot->heartbeat.store(ipc::heartbeat_now(), std::memory_order_relaxed);
      pollfd p{death_fd, POLLIN, 0};
      int const ready = ::poll(&p, 1, static_cast<int>(beat_interval.count()));
      // Only end-of-file makes the pipe readable: the master never writes to it.
      if (ready > 0) ::_exit(0);
    }
  }).detach();
}

/// Whether the worker's plugins have housekeeping to do between requests or jobs: `reopen` or
/// `tick`.
template <class Hooks>
inline constexpr bool has_housekeeping =
    // Both sides are constants of the configuration, often equal: not a redundant expression.
    Hooks::template wants<events::reopen> ||  // NOLINT(misc-redundant-expression)
    Hooks::template wants<events::tick>;

/// Tells the worker's plugins to reopen their files, once SIGUSR1 came.
template <class Hooks>
void reopen_if_requested(Hooks& hooks) {
  if (reopen_requested != 0) {
    reopen_requested = 0;
    hooks.emit(events::reopen{});
  }
}

/// Runs a worker's event loop on its inherited listeners until a graceful stop has drained every
/// connection: accepts with `session`, sweeps connection deadlines and beats in the scoreboard
/// four times a second (then calls `on_sweep`, the plugins' housekeeping), reports the
/// connections still open while draining, starts a graceful stop when `stop_fd` becomes readable
/// and exits when the master dies. Not a template: the server reaches it only through `session`,
/// so that the loop, its timers and Asio's accept machinery are compiled once (once in
/// cluster::compiled), not for every server. Returns the worker's exit status.
CLUSTER_DECL int serve_connections(worker_setup const& w, int stop_fd, connection_set& conns,
                                   session_factory const& session, std::function<void()> on_sweep);

/// Serves `server` (TCP or HTTP) in this worker; see `serve_connections`.
template <class Server, class Hooks>
int serve_listeners(Server& server, worker_setup const& w, int stop_fd, Hooks& hooks) {
  connection_set conns;
  session_factory session;
  if constexpr (http_server<Server>) {
    static_assert(http_runner<Server>::available,
                  "cluster: a server with handle() is an HTTP server; add "
                  "#include <cluster/server/http.hpp>");
    if constexpr (http_runner<Server>::available) {
      session = http_runner<Server>::session(server, conns, hooks);
    }
  } else {
    session = [&](stream sock, peer_address const& /*peer*/) {
      return tcp_session(server, std::move(sock), conns, hooks);
    };
  }
  std::function<void()> on_sweep;
  if constexpr (has_housekeeping<Hooks>) {
    on_sweep = [&hooks, id = w.id] {
      reopen_if_requested(hooks);
      hooks.emit(events::tick{id});
    };
  }
  return serve_connections(w, stop_fd, conns, session, std::move(on_sweep));
}

/// Between jobs (from `worker_context::sleep_for`): `reopen` once SIGUSR1 came, and `tick` at
/// most four times a second, whatever the job's sleeps.
template <class Hooks>
void job_housekeeping(void* arg) {
  auto& hooks = *static_cast<Hooks*>(arg);
  reopen_if_requested(hooks);
  if constexpr (Hooks::template wants<events::tick>) {
    static auto last = std::chrono::steady_clock::time_point{};
    auto const now = std::chrono::steady_clock::now();
    if (now - last >= beat_interval) {
      last = now;
      hooks.emit(events::tick{hooks.id()});
    }
  }
}

/// Runs the server: `preloaded`, the server built in the master and inherited, or, when null, a
/// server built here. A template on the server and the hooks only, so that the environments of a
/// program that share them share it.
template <class Server, class Hooks>
int run_server(Server* preloaded, worker_setup const& w, int stop_fd, Hooks& hooks) {
  using server_type = Server;
  static_assert(abstract_server<server_type> || http_server<server_type> || tcp_server<server_type>,
                "cluster: the server type has none of work(), handle(request) or "
                "serve(cluster::stream); see <cluster/server/concepts.hpp>");
  auto run = [&](server_type& server) -> int {
    if constexpr (abstract_server<server_type>) {
      watch_master_in_thread(w);
      ipc::send(w.channel_fd, {ipc::message_type::connected, 0, {}});
      worker_context ctx(w.id, stop_fd,
                         has_housekeeping<Hooks> ? &job_housekeeping<Hooks> : nullptr, &hooks);
      if constexpr (requires { server.work(ctx); }) {
        server.work(ctx);
      } else {
        server.work();
      }
      return 0;
    } else {
      return serve_listeners(server, w, stop_fd, hooks);
    }
  };
  if (preloaded != nullptr) {
    // Built in the master and inherited: this worker's copy-on-write image of it.
    return run(*preloaded);
  }
  if constexpr (std::is_default_constructible_v<server_type>) {
    // Built here, not in the master: its resources (database connections, threads) belong to
    // this worker alone.
    server_type server{};
    return run(server);
  } else {
    return 1;  // never: a server that cannot be built here is always preloaded
  }
}

/// What every worker does first, whatever its server and plugins: `CLUSTER_WORKER` in its
/// environment, its title, the configured user and group, its stop pipe and signal handlers.
/// Returns the read end of the stop pipe; the write end stays open for the signal handler until
/// the process exits. Returns -1 when the worker cannot run, after telling the master why.
CLUSTER_DECL int start_worker(worker_setup const& w);

/// Tells the master why this worker failed: one line, which the master reports as the worker's
/// exception.
CLUSTER_DECL void report_worker_failure(worker_setup const& w, std::string text);

/// The body of a worker, from just after fork() to its exit status. Never returns to the master's
/// code: the caller passes the result to `os::exit_child`. Only the server and the worker's
/// plugins depend on `Config`; the rest is `start_worker`, compiled once.
template <class Config>
int run_worker(Config& cfg, worker_setup const& w) noexcept {
  try {
    int const stop_fd = start_worker(w);
    if (stop_fd < 0) return 1;
    this_worker self(w.id, ::getpid(), cfg.environment(), w.slot);
    using server_type = typename Config::server_type;
    server_type* preloaded = nullptr;
    if constexpr (Config::server_preloaded) preloaded = &cfg.server();
    return with_worker_hooks(cfg.plugins(), self, [&](auto& hooks) {
      hooks.emit(events::worker_start{w.id});
      int code = 1;
      try {
        code = run_server(preloaded, w, stop_fd, hooks);
      } catch (...) {
        // The plugins hear of the exit (a logger flushes its lines), then the exception is
        // reported as usual.
        hooks.emit(events::worker_exit{w.id, 1});
        throw;
      }
      hooks.emit(events::worker_exit{w.id, code});
      return code;
    });
  } catch (fatal_error const& e) {
    report_worker_failure(w, e.what());
    return fatal_exit_code;
  } catch (std::exception const& e) {
    report_worker_failure(w, e.what());
  } catch (...) {
    report_worker_failure(w, "unknown exception (not derived from std::exception)");
  }
  return 1;
}

}  // namespace detail

}  // namespace cluster

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/impl/worker.ipp>
#endif
