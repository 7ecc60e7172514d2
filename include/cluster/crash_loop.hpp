// SPDX-License-Identifier: BSL-1.0
// What the master does when a worker keeps dying: the crash-loop policies.
#pragma once

#include <cluster/config/fixed_string.hpp>
#include <cluster/policy_slot.hpp>

#include <chrono>
#include <concepts>
#include <type_traits>

namespace cluster {

/// The slot of the crash-loop policy: a plugin with `using policy_slot = cluster::crash_loop_slot;`
/// decides how fast the master replaces workers that keep dying, and when it gives up. At most
/// one per environment; `restart_backoff` when none fills it.
struct crash_loop_slot {};

/// A crash-loop policy as data: what the master's core, compiled once for every configuration,
/// is given (see docs/health.md).
///
/// A worker that dies is replaced at once. When the same worker id keeps dying, each worker
/// having lived less than `stable_uptime`, the replacement waits: `first_delay` before the second
/// one in a row, then `growth` times longer each time, never more than `max_delay`. Each wait is
/// drawn at random between `jitter_percent` % below it and the wait itself, so that workers that
/// died together do not come back together. A worker that lived `stable_uptime` starts its id
/// afresh. Before any worker of the master has accepted, there is no wait: a server that cannot
/// start is reported at once.
///
/// Only deaths of workers that never accepted count towards giving up: when `give_up_after` of
/// them come in a row (each id counting since its last worker that accepted), the master stops
/// gracefully with status 1. Deaths of workers that were serving never stop the service.
struct crash_loop_policy {
  std::chrono::milliseconds first_delay{100};      ///< the wait before the second replacement
  unsigned growth = 2;                             ///< each further wait is this many times longer
  std::chrono::milliseconds max_delay{10000};      ///< no wait is longer; 0: never wait
  unsigned jitter_percent = 20;                    ///< waits are up to this much shorter, at random
  std::chrono::milliseconds stable_uptime{30000};  ///< a worker that lived this long resets its id
  unsigned give_up_after = 20;  ///< deaths before accepting, in a row; 0: never give up

  friend constexpr bool operator==(crash_loop_policy const&, crash_loop_policy const&) = default;
};

/// The default crash-loop policy: `crash_loop_policy`'s values. A policy of one's own is a
/// plugin type in the same slot with another `policy`:
///
/// ```cpp
/// struct patient_restarts : cluster::restart_backoff {
///   static constexpr cluster::crash_loop_policy policy{.max_delay = std::chrono::seconds(60)};
/// };
/// auto app = cluster::cluster<server>().use(patient_restarts{});
/// ```
struct restart_backoff {
  static constexpr fixed_string name = "crash loop";
  using policy_slot = crash_loop_slot;
  static constexpr crash_loop_policy policy{};
};

namespace detail {

template <class T>
inline constexpr bool crash_loop_false = false;

/// Checks the crash-loop policy `Policy` at compile time: one plain sentence for its first
/// mistake, and no other error. Called where the policy is used.
template <class Policy>
constexpr void check_crash_loop() {
  if constexpr (!requires {
                  requires std::same_as<std::remove_cvref_t<decltype(Policy::policy)>,
                                        crash_loop_policy>;
                }) {
    static_assert(crash_loop_false<Policy>,
                  "cluster: a plugin in cluster::crash_loop_slot must declare "
                  "`static constexpr cluster::crash_loop_policy policy`");
  } else {
    constexpr crash_loop_policy p = Policy::policy;
    if constexpr (p.first_delay.count() < 0 || p.max_delay.count() < 0 ||
                  p.stable_uptime.count() < 0) {
      static_assert(crash_loop_false<Policy>,
                    "cluster: a crash-loop policy's first_delay, max_delay and stable_uptime must "
                    "not be negative");
    } else if constexpr (p.max_delay.count() != 0 && p.first_delay.count() == 0) {
      static_assert(crash_loop_false<Policy>,
                    "cluster: a crash-loop policy's first_delay must be above 0 ms (a max_delay of "
                    "0 turns the waits off)");
    } else if constexpr (p.max_delay.count() != 0 && p.first_delay > p.max_delay) {
      static_assert(crash_loop_false<Policy>,
                    "cluster: a crash-loop policy's first_delay must not be above its max_delay");
    } else if constexpr (p.growth < 1) {
      static_assert(crash_loop_false<Policy>,
                    "cluster: a crash-loop policy's growth must be at least 1");
    } else if constexpr (p.jitter_percent > 100) {
      static_assert(crash_loop_false<Policy>,
                    "cluster: a crash-loop policy's jitter_percent must be at most 100");
    }
  }
}

/// The crash-loop policy of `Config`: the plugin in its `crash_loop_slot`, else `restart_backoff`.
template <class Config>
using crash_loop_of = policy_in<Config, crash_loop_slot, restart_backoff>;

}  // namespace detail

}  // namespace cluster
