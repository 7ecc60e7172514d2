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

struct start {};                 ///< the master is starting (before binding)
struct listening {};             ///< every listener is bound (or adopted)
struct worker_spawned {          ///< "worker": a worker process was forked
  unsigned id;
  int pid;
};
struct worker_connected {        ///< a worker is up and accepting
  unsigned id;
  int pid;
};
struct worker_killed {           ///< a worker died (whatever the cause)
  unsigned id;
  int pid;
  int exit_code;                 ///< meaningful when signal == 0
  int signal;                    ///< the signal that killed it, or 0
};
struct worker_exception {        ///< an exception escaped the server in a worker
  unsigned id;
  int pid;
  std::string_view what;
};
struct worker_removed {          ///< a worker was stopped on purpose and not replaced
  unsigned id;
  int pid;
};
struct worker_timeout {          ///< a gracefully stopping worker overran `timeout` and was killed
  unsigned id;
  int pid;
  std::chrono::milliseconds timeout;
};
struct worker_waiting {          ///< a gracefully stopping worker still has open connections
  unsigned id;
  int pid;
  std::size_t connections;
};
struct closing {                 ///< a shutdown begins
  bool graceful;
};
struct close {};                 ///< every worker is gone; the master exits next
struct kill {                    ///< a signal is sent to every worker
  int signal;
};
struct restarting {              ///< a master restart begins; plugins fill the state
  restart_state& state;
};
struct restart {                 ///< the new master took over; the state plugins filled
  restart_state const& state;
};
struct cyclic_restart {          ///< a restart came too soon after the previous one and is delayed
  std::chrono::milliseconds delay;
};
struct reopen {}; ///< log files are to be reopened (SIGUSR1, after logrotate moved them)

//--- events delivered inside a worker process, with `this_worker&` instead of the master ---//
//
// A worker is forked from the master, so it has its own copy of every plugin. These events
// reach that copy, in the worker, with a `cluster::this_worker&` as the second argument; the
// master never hears of them, and nothing crosses a process boundary for them. `reopen` is also
// delivered in each worker (on the worker's next sweep, within a quarter of a second) after the
// master has handled it.

struct worker_start {            ///< in the worker: set up, about to serve (or run its job)
  unsigned id;
};
struct tick {                    ///< in the worker: its event loop's sweep, four times a second
  unsigned id;                   ///< (flush buffers here: it runs whether requests come or not)
};
struct worker_exit {             ///< in the worker: about to exit (normally or by an exception)
  unsigned id;
  int code;                      ///< the exit status the worker will have
};
struct client_connection {       ///< in the worker: it accepted a connection
  unsigned id;
};
struct client_disconnection {    ///< in the worker: a connection closed
  unsigned id;
};
/// In the worker: an HTTP server answered a request (TCP servers have no requests the library
/// can see; their connections are reported). The views are valid during the call only.
struct client_request {
  unsigned id;
  std::string_view method;       ///< "GET"
  std::string_view target;       ///< "/path?query", as received
  unsigned version;              ///< 10 or 11 for HTTP/1.0 or 1.1
  unsigned status;               ///< 200
  std::uint64_t bytes;           ///< the response body's size
  std::string_view remote;       ///< the client: "127.0.0.1:51234", "[::1]:51234", or "unix"
  std::chrono::microseconds duration;  ///< from the request's first byte to its response sent
};

}  // namespace events

/// True when `Policy` handles `Event` for `Master`.
template <class Policy, class Event, class Master>
concept handles = requires(Policy& p, Event const& ev, Master& m) { p.on(ev, m); };

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
