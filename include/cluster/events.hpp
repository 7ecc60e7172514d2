// SPDX-License-Identifier: BSL-1.0
// Event types (one per master event) and their static dispatch to policies.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cluster {

/// What plugins hand from an old master to the new one across a restart. Defined in
/// <cluster/restart_state.hpp>, which a plugin that hands state over includes; see
/// docs/restart.md.
class restart_state;

/// The events a master emits. Each is a type, so a misspelt event does not compile.
///
/// A policy handles an event by providing `on(event, master)`, overloaded on the event type;
/// a policy without a matching `on` is skipped at compile time and costs nothing.
namespace events {

/// Why a worker process ended, as the master decided it: the one classification that every
/// plugin sees, so that a logger and a debug printer never disagree about the same death.
enum class exit_reason : std::uint8_t {
  crashed,       ///< died on its own while wanted (a signal or a non-zero status): replaced
  exited,        ///< ended on its own with status 0 while wanted: replaced
  killed,        ///< died of the signal the master's `kill()` sent: replaced
  stopped,       ///< stopped on purpose and replaced in place (a rolling restart)
  removed,       ///< stopped on purpose and not replaced (`spawn(-1)`, SIGTTOU)
  timed_out,     ///< overran `timeout` while stopping and was killed (SIGKILL)
  shutdown,      ///< ended by the master's shutdown
  gave_up,       ///< too many deaths before serving, or a fatal error: the master gives up
  hung,          ///< its event loop stopped beating for `liveness timeout`: killed and replaced
  boot_timeout,  ///< did not accept within `boot timeout` of its start: killed and replaced
  max_requests,  ///< recycled after `max requests`: stopped once its replacement accepted
  max_age,       ///< recycled after `max age`: stopped once its replacement accepted
  max_memory,    ///< recycled for owning more than `max memory`: stopped once replaced
  deadline,      ///< still in a request's handler past its `request deadline`: killed, replaced
};

/// How many `exit_reason`s there are: they run from 0 to `exit_reason_count - 1` (`deadline`
/// is the last).
inline constexpr std::size_t exit_reason_count =
    static_cast<std::size_t>(exit_reason::deadline) + 1;

/// The word for `r`, as the bundled plugins print it: "crashed", "timed out", "gave up".
constexpr std::string_view to_string(exit_reason r) noexcept {
  switch (r) {
    case exit_reason::crashed:
      return "crashed";
    case exit_reason::exited:
      return "exited";
    case exit_reason::killed:
      return "killed";
    case exit_reason::stopped:
      return "stopped";
    case exit_reason::removed:
      return "removed";
    case exit_reason::timed_out:
      return "timed out";
    case exit_reason::shutdown:
      return "shutdown";
    case exit_reason::gave_up:
      return "gave up";
    case exit_reason::hung:
      return "hung";
    case exit_reason::boot_timeout:
      return "boot timeout";
    case exit_reason::max_requests:
      return "max requests";
    case exit_reason::max_age:
      return "max age";
    case exit_reason::max_memory:
      return "max memory";
    case exit_reason::deadline:
      return "deadline";
  }
  return "?";
}

struct start {
  static constexpr std::string_view name = "start";
};  ///< the master is starting (before binding)
struct listening {
  static constexpr std::string_view name = "listening";
};  ///< every listener is bound (or adopted)
/// The start was refused: a plugin or a listener could not start (a port in use, a missing
/// directory). No worker was forked; the master exits with status 1 next. Delivered to every
/// plugin, whether its own `start` ran or not, so that what one wrote is removed.
struct start_refused {
  static constexpr std::string_view name = "start_refused";
  std::string_view why;  ///< the message printed on stderr, without its "cluster: " prefix
};
struct worker_spawned {  ///< "worker": a worker process was forked
  static constexpr std::string_view name = "worker_spawned";
  unsigned id;
  int pid;
};
struct worker_connected {  ///< a worker is up and accepting
  static constexpr std::string_view name = "worker_connected";
  unsigned id;
  int pid;
};
struct worker_killed {  ///< a worker process ended (whatever the cause: see `reason`)
  static constexpr std::string_view name = "worker_killed";
  unsigned id;
  int pid;
  int exit_code;       ///< meaningful when signal == 0
  int signal;          ///< the signal that killed it, or 0
  exit_reason reason;  ///< why, as the master decided (and acts on)
};
struct worker_exception {  ///< an exception escaped the server in a worker
  static constexpr std::string_view name = "worker_exception";
  unsigned id;
  int pid;
  std::string_view what;
};
struct worker_removed {  ///< a worker was stopped on purpose and not replaced
  static constexpr std::string_view name = "worker_removed";
  unsigned id;
  int pid;
};
struct worker_timeout {  ///< a gracefully stopping worker overran `timeout` and was killed
  static constexpr std::string_view name = "worker_timeout";
  unsigned id;
  int pid;
  std::chrono::milliseconds timeout;
};
/// A worker was found hung and killed (see docs/health.md); delivered when it has ended, just
/// before its `worker_killed`. The views are valid during the call only.
struct worker_hung {
  static constexpr std::string_view name = "worker_hung";
  unsigned id;
  int pid;
  exit_reason reason;        ///< `hung` (no heartbeat) or `boot_timeout` (never accepted)
  std::string_view why;      ///< "no heartbeat for 30000 ms"
  std::string_view request;  ///< "GET /report from 127.0.0.1:51234, for 30250 ms", or empty
  /// The worker's stack, one frame per line ("#0 report::build() (./server+0x1a2b)"), written by
  /// its own signal handler; else what /proc showed of it ("state: T (stopped)", "wchan: ...").
  std::string_view trace;
};
/// A worker id keeps dying young: its replacement waits (the crash-loop policy, see
/// docs/health.md); delivered just after the `worker_killed` of the death that caused it.
struct worker_backoff {
  static constexpr std::string_view name = "worker_backoff";
  unsigned id;
  int pid;                          ///< the worker that died
  unsigned deaths;                  ///< deaths in a row of this id, each of a short-lived worker
  std::chrono::milliseconds delay;  ///< how long its replacement waits
};
struct worker_waiting {  ///< a gracefully stopping worker still has open connections
  static constexpr std::string_view name = "worker_waiting";
  unsigned id;
  int pid;
  std::size_t connections;
};
struct closing {  ///< a shutdown begins
  static constexpr std::string_view name = "closing";
  bool graceful;
};
struct close {
  static constexpr std::string_view name = "close";
};             ///< every worker is gone; the master exits next
struct kill {  ///< a signal is sent to every worker
  static constexpr std::string_view name = "kill";
  int signal;
};
struct restarting {  ///< a master restart begins; plugins fill the state
  static constexpr std::string_view name = "restarting";
  restart_state& state;
};
struct restart {  ///< the new master took over; the state plugins filled
  static constexpr std::string_view name = "restart";
  restart_state const& state;
};
struct cyclic_restart {  ///< a restart came too soon after the previous one and is delayed
  static constexpr std::string_view name = "cyclic_restart";
  std::chrono::milliseconds delay;
};
struct reopen {
  static constexpr std::string_view name = "reopen";
};              ///< log files are to be reopened (SIGUSR1, after logrotate moved them)
struct ready {  ///< every wanted worker accepts (when systemd is told READY=1)
  static constexpr std::string_view name = "ready";
  unsigned workers;  ///< how many
};
struct rolling_restart_started {
  static constexpr std::string_view name = "rolling_restart_started";
};                             ///< a rolling restart begins (SIGHUP, `restart_workers()`)
struct rolling_restart_done {  ///< every worker of a rolling restart has been replaced
  static constexpr std::string_view name = "rolling_restart_done";
  unsigned replaced;
};
struct rolling_restart_failed {  ///< a replacement died before it accepted; the old ones serve on
  static constexpr std::string_view name = "rolling_restart_failed";
  int pid;               ///< the replacement that died
  std::string_view why;  ///< "it ended with SIGSEGV", ...
};
struct restart_failed {  ///< a master restart did not happen; this master keeps serving
  static constexpr std::string_view name = "restart_failed";
  std::string_view why;
};
/// The reload plugin acts on what changed: the workers are restarted, or a new build is checked
/// before the master restarts onto it.
struct reload {
  static constexpr std::string_view name = "reload";
  std::string_view path;  ///< the first change that led to it
  std::size_t changes;    ///< how many changes it covers
  bool new_build;         ///< the executable changed: a master restart, after the build's check
};

//--- events delivered inside a worker process, with `this_worker&` instead of the master ---//
//
// A worker is forked from the master, so it has its own copy of every plugin. These events
// reach that copy, in the worker, with a `cluster::this_worker&` as the second argument; the
// master never hears of them, and nothing crosses a process boundary for them. `reopen` is also
// delivered in each worker (on the worker's next sweep, within a quarter of a second) after the
// master has handled it.

struct worker_start {  ///< in the worker: set up, about to serve (or run its job)
  static constexpr std::string_view name = "worker_start";
  unsigned id;
};
struct tick {  ///< in the worker: its event loop's sweep, four times a second
  static constexpr std::string_view name = "tick";
  unsigned id;  ///< (flush buffers here: it runs whether requests come or not)
};
struct worker_exit {  ///< in the worker: about to exit (normally or by an exception)
  static constexpr std::string_view name = "worker_exit";
  unsigned id;
  int code;  ///< the exit status the worker will have
};
struct client_connection {  ///< in the worker: it accepted a connection
  static constexpr std::string_view name = "client_connection";
  unsigned id;
};
struct client_disconnection {  ///< in the worker: a connection closed
  static constexpr std::string_view name = "client_disconnection";
  unsigned id;
};
/// In the worker: an HTTP server answered a request (TCP servers have no requests the library
/// can see; their connections are reported). The views are valid during the call only.
struct client_request {
  static constexpr std::string_view name = "client_request";
  unsigned id;
  std::string_view method;             ///< "GET"
  std::string_view target;             ///< "/path?query", as received
  unsigned version;                    ///< 10 or 11 for HTTP/1.0 or 1.1
  unsigned status;                     ///< 200
  std::uint64_t bytes;                 ///< the response body's size
  std::string_view remote;             ///< the client: "127.0.0.1:51234", "[::1]:51234", or "unix"
  std::chrono::microseconds duration;  ///< from the request's first byte to its response sent
};

/// A list of event types.
template <class... Events>
struct list {};

/// Every event the master emits, delivered with the master: `on(event, Master&)`.
using master_events =
    list<start, listening, worker_spawned, worker_connected, worker_killed, worker_exception,
         worker_removed, worker_timeout, worker_hung, worker_backoff, worker_waiting, closing,
         close, kill, restarting, restart, cyclic_restart, reopen, ready, rolling_restart_started,
         rolling_restart_done, rolling_restart_failed, restart_failed, reload, start_refused>;

/// Every event delivered inside a worker, with `cluster::this_worker&` (`reopen` is in both).
using worker_events = list<worker_start, tick, worker_exit, client_connection, client_disconnection,
                           client_request, reopen>;

}  // namespace events

/// True when `Policy` handles `Event` for `Master`.
template <class Policy, class Event, class Master>
concept handles = requires(Policy& p, Event const& ev, Master& m) {
  p.on(ev, m);
};

/// Calls `p.on(ev, m)` for each policy that handles `Event`, in declaration order.
///
/// The fold is resolved at compile time: a policy that ignores the event contributes no code.
template <class Event, class Master, class... Policies>
constexpr void dispatch(Event const& ev, Master& m, Policies&... ps) {
  (
      [&] {
        if constexpr (handles<Policies, Event, Master>) ps.on(ev, m);
      }(),
      ...);
}

}  // namespace cluster
