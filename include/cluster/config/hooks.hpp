// SPDX-License-Identifier: BSL-1.0
// Compile-time checks of a plugin's hooks: an `on` overload that no event would ever call is a
// mistake the compiler can see (a misspelt event does not compile; a wrong signature must not
// either).
#pragma once

#include <cluster/events.hpp>

#include <concepts>
#include <cstdint>
#include <type_traits>

namespace cluster {

class this_worker;
class master_api;

namespace detail {

/// Stands for the master in the checks: a generic `template <class Master>` hook deduces it, and
/// it converts to the contract a non-template hook declares (`cluster::master_api&`), and to
/// nothing else: not to `this_worker&`, so that a master hook and a worker hook are told apart.
struct master_probe {
  operator master_api&() const;  // NOLINT(google-explicit-constructor): the conversion is the point
};

/// A base with a member `on`: derived together with a plugin, the name is ambiguous exactly when
/// the plugin has an `on` of its own (whatever its signatures, templates included).
struct on_member {
  void on();
};
template <class P>
struct on_lookup : P, on_member {};

template <class P>
concept has_on = std::is_class_v<P> && !std::is_final_v<P> && !requires {
  &on_lookup<P>::on;
};

template <class P, class Event, class Target>
concept takes = requires(P& p, Event const& e, Target& t) {
  p.on(e, t);
};

/// Accepts the event only as a non-const lvalue: never called, events are passed const. The
/// checks are ordered so that the answers the compiler has already cached (`takes`) come first,
/// and a hook that takes its event right costs no further overload resolution.
template <class P, class Event, class Target>
concept takes_mutable_only = !takes<P, Event, Target> && requires(P & p, Event& e, Target& t) {
  p.on(e, t);
};

/// What is wrong with a plugin's hooks, if anything.
enum class hook_problem : std::uint8_t {
  none,
  matches_nothing,         ///< it has `on` overloads, and none matches any event
  mutable_event,           ///< one takes an event by non-const reference
  master_event_in_worker,  ///< one takes a master event with `this_worker&`
  worker_event_in_master,  ///< one takes a worker event with the master
};

template <class P, class... Masters>
constexpr hook_problem master_side(events::list<Masters...> /*events*/) {
  if ((takes_mutable_only<P, Masters, master_probe> || ...)) return hook_problem::mutable_event;
  if (((!std::same_as<Masters, events::reopen> && !takes<P, Masters, master_probe> &&
        takes<P, Masters, this_worker>) ||
       ...)) {
    return hook_problem::master_event_in_worker;
  }
  return hook_problem::none;
}

template <class P, class... Workers>
constexpr hook_problem worker_side(events::list<Workers...> /*events*/) {
  if ((takes_mutable_only<P, Workers, this_worker> || ...)) return hook_problem::mutable_event;
  if (((!std::same_as<Workers, events::reopen> && !takes<P, Workers, this_worker> &&
        takes<P, Workers, master_probe>) ||
       ...)) {
    return hook_problem::worker_event_in_master;
  }
  return hook_problem::none;
}

template <class P, class... Masters, class... Workers>
constexpr bool matches_any(events::list<Masters...> /*master*/,
                           events::list<Workers...> /*worker*/) {
  return (takes<P, Masters, master_probe> || ...) || (takes<P, Workers, this_worker> || ...);
}

/// The first problem of `P`'s hooks, or `none`. A plugin without `on` has none.
template <class P>
constexpr hook_problem hook_problem_of() {
  if constexpr (!has_on<P>) {
    return hook_problem::none;
  } else {
    if (auto const p = master_side<P>(events::master_events{}); p != hook_problem::none) return p;
    if (auto const p = worker_side<P>(events::worker_events{}); p != hook_problem::none) return p;
    if (!matches_any<P>(events::master_events{}, events::worker_events{}))
      return hook_problem::matches_nothing;
    return hook_problem::none;
  }
}

}  // namespace detail

}  // namespace cluster
