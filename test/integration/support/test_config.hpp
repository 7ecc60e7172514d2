// SPDX-License-Identifier: BSL-1.0
// A hand-written resolved configuration, to run the master without the compile-time builder.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/config/fixed_string.hpp>
#include <cluster/crash_loop.hpp>
#include <cluster/events.hpp>
#include <cluster/master/api.hpp>
#include <cluster/restart_state.hpp>
#include <cluster/this_worker.hpp>

#include <boost/hana/basic_tuple.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace cluster::testing {

/// Prints one line per event on stderr (`cluster-event: worker_spawned id=0 pid=123`), so that
/// tests can wait for what the master did; enabled by `CLUSTER_TEST_EVENTS=1`.
///
/// It is also an ordinary plugin, for test programs built with the configuration builder:
/// `.use(cluster::testing::event_trace{})`.
struct event_trace {
  static constexpr fixed_string name = "event trace";

  bool enabled = [] {
    char const* v = std::getenv("CLUSTER_TEST_EVENTS");
    return v != nullptr && *v != '\0' && std::string_view(v) != "0";
  }();

  void line(std::string const& text) const {
    if (!enabled) return;
    std::fprintf(stderr, "cluster-event: %s\n", text.c_str());
    std::fflush(stderr);
  }
  static std::string who(unsigned id, int pid) {
    return "id=" + std::to_string(id) + " pid=" + std::to_string(pid);
  }

  template <class M>
  void on(events::start const&, M&) {
    line("start");
  }
  template <class M>
  void on(events::listening const&, M&) {
    line("listening");
  }
  template <class M>
  void on(events::worker_spawned const& e, M&) {
    line("worker_spawned " + who(e.id, e.pid));
  }
  /// Also what the master's worker view says of that worker, in the master (`workers()`).
  template <class M>
  void on(events::worker_connected const& e, M& m) {
    line("worker_connected " + who(e.id, e.pid));
    for (auto const& w : m.workers()) {
      if (w.pid != e.pid) continue;
      std::string text =
          "worker_view " + who(w.id, w.pid) + " generation=" + std::to_string(w.generation) +
          " state=" + (w.state == worker_state::ready ? "ready" : "not-ready") + " last=";
      if (w.last_exit) {
        text += std::string(to_string(w.last_exit->reason)) +
                ",pid=" + std::to_string(w.last_exit->pid) +
                ",signal=" + std::to_string(w.last_exit->signal);
      } else {
        text += "none";
      }
      line(text);
    }
  }
  template <class M>
  void on(events::worker_killed const& e, M&) {
    line("worker_killed " + who(e.id, e.pid) + " code=" + std::to_string(e.exit_code) +
         " signal=" + std::to_string(e.signal) + " reason=" + std::string(to_string(e.reason)));
  }
  template <class M>
  void on(events::ready const& e, M&) {
    line("ready workers=" + std::to_string(e.workers));
  }
  template <class M>
  void on(events::rolling_restart_started const&, M&) {
    line("rolling_restart_started");
  }
  template <class M>
  void on(events::rolling_restart_done const& e, M&) {
    line("rolling_restart_done replaced=" + std::to_string(e.replaced));
  }
  template <class M>
  void on(events::rolling_restart_failed const& e, M&) {
    line("rolling_restart_failed pid=" + std::to_string(e.pid));
  }
  template <class M>
  void on(events::reload const& e, M&) {
    line("reload path=" + std::string(e.path) + " changes=" + std::to_string(e.changes) +
         " new_build=" + (e.new_build ? "true" : "false"));
  }
  template <class M>
  void on(events::restart_failed const&, M&) {
    line("restart_failed");
  }
  template <class M>
  void on(events::worker_exception const& e, M&) {
    line("worker_exception " + who(e.id, e.pid) + " what=" + std::string(e.what));
  }
  template <class M>
  void on(events::worker_removed const& e, M&) {
    line("worker_removed " + who(e.id, e.pid));
  }
  template <class M>
  void on(events::worker_timeout const& e, M&) {
    line("worker_timeout " + who(e.id, e.pid));
  }
  /// `worker_hung id=0 pid=12 reason=hung request=GET /hang from ... frames=9`, then the trace
  /// one line at a time (`worker_hung_trace #3 ...`).
  template <class M>
  void on(events::worker_hung const& e, M&) {
    std::size_t frames = 0;
    std::string_view rest = e.trace;
    for (auto at = rest.find('\n'); !rest.empty(); at = rest.find('\n')) {
      line("worker_hung_trace " + std::string(rest.substr(0, at)));
      ++frames;
      if (at == std::string_view::npos) break;
      rest.remove_prefix(at + 1);
    }
    line("worker_hung " + who(e.id, e.pid) + " reason=" + std::string(to_string(e.reason)) +
         " why=" + std::string(e.why) + " request=" + std::string(e.request) +
         " lines=" + std::to_string(frames));
  }
  template <class M>
  void on(events::worker_backoff const& e, M&) {
    line("worker_backoff " + who(e.id, e.pid) + " deaths=" + std::to_string(e.deaths) +
         " delay=" + std::to_string(e.delay.count()));
  }
  template <class M>
  void on(events::worker_waiting const& e, M&) {
    line("worker_waiting " + who(e.id, e.pid) + " connections=" + std::to_string(e.connections));
  }
  template <class M>
  void on(events::closing const& e, M&) {
    line(std::string("closing graceful=") + (e.graceful ? "1" : "0"));
  }
  template <class M>
  void on(events::close const&, M&) {
    line("close");
  }
  template <class M>
  void on(events::reopen const&, M&) {
    line("reopen");
  }
  // In a worker (SIGUSR1 passed on by the master).
  void on(events::reopen const&, this_worker& w) {
    line("reopen in worker id=" + std::to_string(w.id()) + " pid=" + std::to_string(w.pid()));
  }
  template <class M>
  void on(events::kill const& e, M&) {
    line("kill signal=" + std::to_string(e.signal));
  }
  template <class M>
  void on(events::restarting const&, M&) {
    line("restarting");
  }
  template <class M>
  void on(events::restart const&, M&) {
    line("restart");
  }
  template <class M>
  void on(events::cyclic_restart const& e, M&) {
    line("cyclic_restart delay=" + std::to_string(e.delay.count()));
  }
};

/// Settings from the environment, as the examples and test servers use them:
/// `WEB_CONCURRENCY` (workers), `PORT` (0 when unset), `CLUSTER_TEST_UNIX` (a unix socket path
/// instead of TCP), `CLUSTER_TEST_TIMEOUT_MS`, `CLUSTER_TEST_USER`, `CLUSTER_TEST_LIVENESS_MS`,
/// `CLUSTER_TEST_BOOT_MS`, `CLUSTER_TEST_DEADLINE_MS`, `CLUSTER_TEST_MAX_REQUESTS`,
/// `CLUSTER_TEST_CHDIR` (the working directory), `CLUSTER_TEST_MAX_AGE_MS`,
/// `CLUSTER_TEST_MAX_MEMORY_MB`, `CLUSTER_TEST_RECYCLE_AT_ONCE`.
inline core_settings settings_from_environment(unsigned default_workers = 2) {
  core_settings s;
  s.workers = default_workers;
  if (char const* w = std::getenv("WEB_CONCURRENCY"))
    s.workers = static_cast<unsigned>(std::atoi(w));
  if (char const* u = std::getenv("CLUSTER_TEST_USER")) s.user.name = u;
  if (char const* d = std::getenv("CLUSTER_TEST_CHDIR")) s.working_directory = d;
  if (char const* t = std::getenv("CLUSTER_TEST_TIMEOUT_MS"))
    s.timeout = std::chrono::milliseconds(std::atoi(t));
  if (char const* t = std::getenv("CLUSTER_TEST_RESTART_THRESHOLD_MS"))
    s.restart_threshold = std::chrono::milliseconds(std::atoi(t));
  if (char const* t = std::getenv("CLUSTER_TEST_RESTART_TIMEOUT_MS"))
    s.restart_timeout = std::chrono::milliseconds(std::atoi(t));
  if (char const* t = std::getenv("CLUSTER_TEST_LIVENESS_MS"))
    s.liveness_timeout = std::chrono::milliseconds(std::atoi(t));
  if (char const* t = std::getenv("CLUSTER_TEST_BOOT_MS"))
    s.boot_timeout = std::chrono::milliseconds(std::atoi(t));
  if (char const* t = std::getenv("CLUSTER_TEST_DEADLINE_MS"))
    s.request_deadline = std::chrono::milliseconds(std::atoi(t));
  if (char const* n = std::getenv("CLUSTER_TEST_MAX_REQUESTS"))
    s.max_requests = static_cast<unsigned>(std::atoi(n));
  if (char const* t = std::getenv("CLUSTER_TEST_MAX_AGE_MS"))
    s.max_age = std::chrono::milliseconds(std::atoi(t));
  if (char const* n = std::getenv("CLUSTER_TEST_MAX_MEMORY_MB"))
    s.max_memory = static_cast<unsigned>(std::atoi(n));
  if (char const* n = std::getenv("CLUSTER_TEST_RECYCLE_AT_ONCE"))
    s.recycle_at_once = static_cast<unsigned>(std::atoi(n));
  return s;
}

inline std::vector<endpoint> listeners_from_environment() {
  if (char const* path = std::getenv("CLUSTER_TEST_UNIX")) {
    return {endpoint{endpoint::kind::unix_socket, 0, path}};
  }
  endpoint ep;
  ep.address = "127.0.0.1";
  if (char const* host = std::getenv("HOST")) ep.address = host;
  if (char const* port = std::getenv("PORT")) ep.port = static_cast<std::uint16_t>(std::atoi(port));
  return {ep};
}

/// A plugin that handles no event: the default for `test_config`'s extra plugin.
struct no_plugin {};

/// The crash-loop policy of the test programs: the default, or as `CLUSTER_TEST_BACKOFF` says
/// ("first_delay,max_delay,stable_uptime,give_up_after": three durations in ms and a count).
struct env_crash_loop {
  static constexpr fixed_string name = "crash loop";
  using policy_slot = crash_loop_slot;
  static inline crash_loop_policy const policy = [] {
    crash_loop_policy p;
    if (char const* v = std::getenv("CLUSTER_TEST_BACKOFF")) {
      long first = 0;
      long max = 0;
      long stable = 0;
      unsigned give_up = 0;
      if (std::sscanf(v, "%ld,%ld,%ld,%u", &first, &max, &stable, &give_up) == 4) {
        p.first_delay = std::chrono::milliseconds(first);
        p.max_delay = std::chrono::milliseconds(max);
        p.stable_uptime = std::chrono::milliseconds(stable);
        p.give_up_after = give_up;
      }
    }
    return p;
  }();
};

/// The smallest resolved configuration the master accepts: a Server type, settings, listeners.
///
/// `SignalPolicy` stands for the plugin in the signal slot (void: none, the master's default);
/// `Plugin` receives every event after the trace, as a user's plugin would.
template <class Server, class SignalPolicy = void, class Plugin = no_plugin>
struct test_config {
  using server_type = Server;
  static constexpr bool server_preloaded = false;

  template <class Slot, class Default>
  using slot_type =
      std::conditional_t<std::is_same_v<Slot, crash_loop_slot>, env_crash_loop,
                         std::conditional_t<std::is_void_v<SignalPolicy>, Default, SignalPolicy>>;

  core_settings settings_ = settings_from_environment();
  // An abstract server accepts nothing: binding a port for it would only make clients hang.
  std::vector<endpoint> listeners_ = requires { &Server::work; }
  ? std::vector<endpoint>{} : listeners_from_environment();
  std::string environment_ = "test";
  boost::hana::basic_tuple<event_trace, Plugin> plugins_{};

  [[nodiscard]] core_settings const& settings() const { return settings_; }
  [[nodiscard]] std::span<endpoint const> listeners() const { return listeners_; }
  [[nodiscard]] std::string_view environment() const { return environment_; }
  [[nodiscard]] auto& plugins() { return plugins_; }

  template <class Master>
  void run_actions(Master&) {}
};

/// The same with a server object built in the master (`server_preloaded`).
template <class Server>
struct preloaded_config : test_config<Server> {
  static constexpr bool server_preloaded = true;
  Server server_;
  explicit preloaded_config(Server s) : server_(std::move(s)) {}
  Server& server() { return server_; }
};

}  // namespace cluster::testing
