// SPDX-License-Identifier: BSL-1.0
// What the master's states are, and what each signal to the master means: the signal policies.
#pragma once

#include <cluster/config/fixed_string.hpp>
#include <cluster/policy_slot.hpp>

#include <signal.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace cluster {

/// Where the master is in its life (SPEC: `active`, `graceful shutdown`, `hard shutdown`).
enum class master_state : std::uint8_t { active, graceful_shutdown, hard_shutdown };

/// What a signal to the master asks it to do.
enum class master_action : std::uint8_t {
  none,               ///< ignore the signal
  graceful_shutdown,  ///< `close()`
  hard_shutdown,      ///< `destroy()`
  restart,            ///< `restart()`: replace the master without downtime
  restart_workers,    ///< `restart_workers()`: replace every worker in place, one at a time
  add_worker,         ///< `spawn(1)`
  remove_worker,      ///< `spawn(-1)`
  reopen_logs,        ///< `reopen_logs()`: plugins reopen their files (after logrotate)
};

/// The slot of the signal policy: a plugin with `using policy_slot = cluster::signals_slot;`
/// decides what each signal to the master means. At most one per environment.
struct signals_slot {};

/// The signal policy of the SPEC, used when no plugin fills `signals_slot`: SIGINT and SIGTERM
/// stop hard, SIGQUIT gracefully, SIGTTIN / SIGTTOU add / remove a worker, SIGUSR2 restarts the
/// master (a new build on disk takes over), SIGHUP restarts the workers in place, SIGUSR1 has
/// the plugins reopen their log files.
///
/// A signal policy is a plugin type with `using policy_slot = cluster::signals_slot;`,
/// `static constexpr master_action action(int signal)` and `static constexpr std::array
/// signals`, the signals the master listens to. SIGCHLD is always handled (it reaps workers) and
/// is not part of the policy.
struct default_signals {
  static constexpr fixed_string name = "default signals";
  using policy_slot = signals_slot;
  static constexpr std::array signals{SIGINT, SIGTERM, SIGQUIT, SIGUSR2,
                                      SIGHUP, SIGTTIN, SIGTTOU, SIGUSR1};
  static constexpr master_action action(int signal) noexcept {
    switch (signal) {
      case SIGINT:
      case SIGTERM:
        return master_action::hard_shutdown;
      case SIGQUIT:
        return master_action::graceful_shutdown;
      case SIGUSR2:
        return master_action::restart;
      case SIGHUP:
        return master_action::restart_workers;
      case SIGTTIN:
        return master_action::add_worker;
      case SIGTTOU:
        return master_action::remove_worker;
      case SIGUSR1:
        return master_action::reopen_logs;
      default:
        return master_action::none;
    }
  }
};

/// For container platforms, which send SIGTERM and expect a graceful stop within a grace period:
/// SIGTERM and SIGQUIT stop gracefully, SIGINT stops hard.
///
/// Example: `.in<"production">().use(cluster::container_signals{})`
struct container_signals {
  static constexpr fixed_string name = "container signals";
  using policy_slot = signals_slot;
  static constexpr std::array signals = default_signals::signals;
  static constexpr master_action action(int signal) noexcept {
    return signal == SIGTERM ? master_action::graceful_shutdown : default_signals::action(signal);
  }
};

/// One signal the master listens to, and what it means.
struct signal_binding {
  int signal;
  master_action action;
};

/// A signal policy as data: what the master's core, compiled once for every configuration, is
/// given instead of the policy's type.
template <class SignalPolicy>
inline constexpr auto signal_bindings = [] {
  std::array<signal_binding, SignalPolicy::signals.size()> out{};
  for (std::size_t i = 0; i != out.size(); ++i)
    out[i] = {SignalPolicy::signals[i], SignalPolicy::action(SignalPolicy::signals[i])};
  return out;
}();

/// What `bindings` map `signal` to; `none` for a signal they do not list.
constexpr master_action action_of(std::span<signal_binding const> bindings, int signal) noexcept {
  for (auto const& b : bindings)
    if (b.signal == signal) return b.action;
  return master_action::none;
}

namespace detail {

/// The signal policy of `Config`: the plugin in its `signals_slot`, else `default_signals`.
template <class Config>
using signal_policy_of = policy_in<Config, signals_slot, default_signals>;

}  // namespace detail

}  // namespace cluster
