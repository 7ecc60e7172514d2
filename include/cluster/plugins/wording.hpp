// SPDX-License-Identifier: BSL-1.0
// How the bundled plugins word the master's decisions: one text and one level per event, so that
// `debug` on stderr and `logger` in master.log never disagree about the same death.
#pragma once

#include <cluster/events.hpp>
#include <cluster/os/process.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace cluster {

/// How much a line matters, from the repeated reports to the errors.
enum class log_level : std::uint8_t {
  debug,    ///< everything, repeated reports included (a stopping worker still waiting)
  info,     ///< the life of the cluster: start, workers spawned and stopped, reopen, shutdown
  warning,  ///< what needs a look: workers that crashed, timeouts, cyclic restarts
  error,    ///< exceptions that escaped a worker's server, a master that gives up
};

/// One line's level and text, without timestamp or prefix.
struct worded {
  log_level level;
  std::string text;
};

namespace wording {

/// `killed by SIGKILL` or `exited with status 3`.
inline std::string how_it_ended(int exit_code, int signal) {
  if (signal != 0) return "killed by " + os::signal_name(signal);
  return "exited with status " + std::to_string(exit_code);
}

/// A worker's end, by the master's reason: `worker 0 (pid 1234) crashed: killed by SIGKILL` is a
/// warning; a worker the master stopped, removed or signalled is info.
inline worded of(events::worker_killed const& e) {
  using reason = events::exit_reason;
  std::string const who =
      "worker " + std::to_string(e.id) + " (pid " + std::to_string(e.pid) + ") ";
  std::string const how = how_it_ended(e.exit_code, e.signal);
  switch (e.reason) {
    case reason::crashed:
      return {log_level::warning, who + "crashed: " + how};
    case reason::exited:
      return {log_level::info, who + how + "; replaced"};
    case reason::killed:
      return {log_level::info, who + how + ", sent by the master; replaced"};
    case reason::stopped:
      return {log_level::info, who + "stopped for a rolling restart: " + how};
    case reason::removed:
      return {log_level::info, who + "removed: " + how};
    case reason::timed_out:
      return {log_level::warning, who + "ended after overrunning timeout: " + how};
    case reason::shutdown:
      return {log_level::info, who + "stopped by the shutdown: " + how};
    case reason::gave_up:
      // Too many deaths before serving, or a fatal error the worker reported (exit status 78).
      return {log_level::error, who + "ended: " + how + "; the master gives up and stops"};
    case reason::hung:
      return {log_level::warning, who + "hung and was killed: " + how + "; replaced"};
    case reason::boot_timeout:
      return {log_level::warning, who + "never accepted and was killed: " + how + "; replaced"};
    case reason::deadline:
      return {log_level::warning,
              who + "overran its request deadline and was killed: " + how + "; replaced"};
    case reason::max_requests:
    case reason::max_age:
    case reason::max_memory:
      return {log_level::info,
              who + "recycled (" + std::string(to_string(e.reason)) + "): " + how + "; replaced"};
  }
  return {log_level::warning, who + how};
}

/// `worker 1 (pid 1234) did not stop within 60000 ms; killing it`
inline worded of(events::worker_timeout const& e) {
  return {log_level::warning, "worker " + std::to_string(e.id) + " (pid " + std::to_string(e.pid) +
                                  ") did not stop within " + std::to_string(e.timeout.count()) +
                                  " ms; killing it"};
}

/// `worker 1 (pid 1234) hung (no heartbeat for 30012 ms, liveness timeout 30000 ms) in GET /x
/// from 127.0.0.1:5678, for 30010 ms`; the trace is not part of it (see `trace_lines`).
inline worded of(events::worker_hung const& e) {
  std::string text = "worker " + std::to_string(e.id) + " (pid " + std::to_string(e.pid) +
                     ") hung (" + std::string(e.why) + ")";
  if (!e.request.empty()) text.append(" in ").append(e.request);
  return {log_level::warning, text};
}

/// `worker 1 (pid 1234) died 3 times in a row soon after it started; its replacement waits 190 ms`
inline worded of(events::worker_backoff const& e) {
  return {log_level::warning, "worker " + std::to_string(e.id) + " (pid " + std::to_string(e.pid) +
                                  ") died " + std::to_string(e.deaths) +
                                  " times in a row soon after it started; its replacement waits " +
                                  std::to_string(e.delay.count()) + " ms"};
}

/// `worker 1 (pid 1234) trace: #0 ...`, one line per line of `e.trace`, for line-oriented logs.
template <class F>
void for_each_trace_line(events::worker_hung const& e, F&& f) {
  std::string const who =
      "worker " + std::to_string(e.id) + " (pid " + std::to_string(e.pid) + ") trace: ";
  std::string_view rest = e.trace;
  while (!rest.empty()) {
    auto const end = rest.find('\n');
    std::string_view const line = rest.substr(0, end);
    if (!line.empty()) f(who + std::string(line));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
}

/// `ready: every worker accepts (4)`
inline worded of(events::ready const& e) {
  return {log_level::info, "ready: every worker accepts (" + std::to_string(e.workers) + ")"};
}

/// `rolling restart: started`
inline worded of(events::rolling_restart_started const&) {
  return {log_level::info, "rolling restart: started"};
}

/// `rolling restart: done, 4 workers replaced`
inline worded of(events::rolling_restart_done const& e) {
  return {log_level::info, "rolling restart: done, " + std::to_string(e.replaced) + " worker" +
                               (e.replaced == 1 ? "" : "s") + " replaced"};
}

/// `rolling restart: failed, the new worker 1234 died before it accepted (...)`
inline worded of(events::rolling_restart_failed const& e) {
  return {log_level::error, "rolling restart: failed, the new worker " + std::to_string(e.pid) +
                                " died before it accepted (" + std::string(e.why) +
                                "); the other workers keep serving"};
}

/// `restart failed: <why>; this master keeps serving`
inline worded of(events::restart_failed const& e) {
  return {log_level::error,
          "restart failed: " + std::string(e.why) + "; this master keeps serving"};
}

/// `reload: /srv/app/config/app.json changed (and 3 more); restarting the workers`
inline worded of(events::reload const& e) {
  std::string text = "reload: " + std::string(e.path) + " changed";
  if (e.changes > 1) text += " (and " + std::to_string(e.changes - 1) + " more)";
  text += e.new_build ? "; checking the new build, then restarting the master onto it"
                      : "; restarting the workers";
  return {log_level::info, text};
}

}  // namespace wording

}  // namespace cluster
