// SPDX-License-Identifier: BSL-1.0
// Setting keys: value types, defaults and compile-time validation, open to user keys.
#pragma once

#include "core_settings.hpp"
#include "detail/system_defaults.hpp"
#include "detail/value_traits.hpp"
#include "fixed_string.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

namespace cluster {

/// The descriptor of a setting key. The primary template is never defined: a key is known
/// exactly when `setting<"key">` is specialized.
///
/// A descriptor declares:
/// - `value_type`: what `get<"key">()` returns (`unsigned`, `int`, `std::chrono::milliseconds`,
///   `std::string_view`, `cluster::identity`, or any type of your own);
/// - `expects`: a phrase for error messages ("a count of at least 1");
/// - optionally `check(value)`: true when the value is acceptable, and `reject`: a pointer to a
///   declared, never defined, non-constexpr function named after the fix, called when a
///   constant fails `check` so that the compiler quotes its name;
/// - optionally `default_value(environment)` (or a `static constexpr value_type default_value`).
///
/// Whatever the key, a value is never cut to fit `value_type`: a number beyond an integer type, a
/// duration that is not whole milliseconds or longer than 146 years, an id beyond 4294967294 are
/// refused by `value_traits` (detail/value_traits.hpp), before or after `check` (see `judge`).
///
/// Example: declaring a key of your own, used as `.set<"greeting">("hi")`:
/// ```
/// template <> struct cluster::setting<"greeting"> {
///   using value_type = std::string_view;
///   static constexpr char const* expects = "a greeting";
///   static constexpr value_type default_value = "hello";
/// };
/// ```
template <fixed_string Key>
struct setting;

/// Functions whose names are the compile-time diagnostics for out-of-range constants. They are
/// declared and never defined: reaching one during constant evaluation stops the compilation
/// with its name on the error line.
namespace diagnostic {
void workers_must_be_at_least_1();
void backlog_must_be_at_least_1();
void timeout_must_not_be_negative();
void restart_threshold_must_not_be_negative();
void restart_timeout_must_not_be_negative();
void text_must_not_be_empty();
void user_or_group_id_must_not_be_negative();
void port_must_be_between_0_and_65535();
void liveness_timeout_must_be_0_or_at_least_1000_ms();
void boot_timeout_must_be_0_or_at_least_1000_ms();
void max_age_must_be_0_or_at_least_1000_ms();
void recycle_at_once_must_be_at_least_1();
void request_deadline_must_be_0_or_at_least_1000_ms();
}  // namespace diagnostic

namespace detail {
constexpr bool non_negative(std::chrono::milliseconds ms) { return ms.count() >= 0; }
constexpr bool non_empty(std::string_view s) { return !s.empty(); }
/// The master checks its workers' heartbeats every 500 ms and a worker beats every 250 ms: a
/// shorter health timer would kill workers that are merely between two checks.
constexpr bool off_or_health_timer(std::chrono::milliseconds ms) {
  return ms.count() == 0 || ms.count() >= 1000;
}
}  // namespace detail

//=== the built-in keys ===//

template <>
struct setting<"workers"> {
  using value_type = unsigned;
  static constexpr char const* expects = "a count of at least 1";
  static constexpr bool check(unsigned n) { return n >= 1; }
  static constexpr auto reject = &diagnostic::workers_must_be_at_least_1;
  static unsigned default_value(std::string_view /*environment*/) { return detail::cpu_count(); }
};

template <>
struct setting<"working directory"> {
  using value_type = std::string_view;
  static constexpr char const* expects = "a non-empty path";
  static constexpr auto check = detail::non_empty;
  static constexpr auto reject = &diagnostic::text_must_not_be_empty;
  static std::string_view default_value(std::string_view /*environment*/) {
    return detail::executable_directory();
  }
};

template <>
struct setting<"backlog"> {
  using value_type = int;
  static constexpr char const* expects = "a listen backlog of at least 1";
  static constexpr bool check(int n) { return n >= 1; }
  static constexpr auto reject = &diagnostic::backlog_must_be_at_least_1;
  static constexpr value_type default_value = 128;
};

template <>
struct setting<"timeout"> {
  using value_type = std::chrono::milliseconds;
  static constexpr char const* expects = "a duration of 0 ms or more";
  static constexpr auto check = detail::non_negative;
  static constexpr auto reject = &diagnostic::timeout_must_not_be_negative;
  static constexpr value_type default_value{60000};
};

template <>
struct setting<"title"> {
  using value_type = std::string_view;
  static constexpr char const* expects = "a non-empty process title";
  static constexpr auto check = detail::non_empty;
  static constexpr auto reject = &diagnostic::text_must_not_be_empty;
  static constexpr value_type default_value = "cluster master";
};

template <>
struct setting<"worker title"> {
  using value_type = std::string_view;
  static constexpr char const* expects = "a non-empty process title, where {n} is the worker id";
  static constexpr auto check = detail::non_empty;
  static constexpr auto reject = &diagnostic::text_must_not_be_empty;
  static constexpr value_type default_value = "cluster worker {n}";
};

template <>
struct setting<"user"> {
  using value_type = identity;
  static constexpr char const* expects = "a user name or a user id of 0 or more";
  static constexpr bool check(identity const& who) { return who.id >= -1; }
  static constexpr auto reject = &diagnostic::user_or_group_id_must_not_be_negative;
  static constexpr value_type default_value{};
};

template <>
struct setting<"group"> {
  using value_type = identity;
  static constexpr char const* expects = "a group name or a group id of 0 or more";
  static constexpr bool check(identity const& who) { return who.id >= -1; }
  static constexpr auto reject = &diagnostic::user_or_group_id_must_not_be_negative;
  static constexpr value_type default_value{};
};

template <>
struct setting<"restart threshold"> {
  using value_type = std::chrono::milliseconds;
  static constexpr char const* expects = "a duration of 0 ms or more";
  static constexpr auto check = detail::non_negative;
  static constexpr auto reject = &diagnostic::restart_threshold_must_not_be_negative;
  static constexpr value_type default_value(std::string_view environment) {
    return value_type{environment == "development" ? 5000 : 60000};
  }
};

template <>
struct setting<"restart timeout"> {
  using value_type = std::chrono::milliseconds;
  static constexpr char const* expects = "a duration of 0 ms or more";
  static constexpr auto check = detail::non_negative;
  static constexpr auto reject = &diagnostic::restart_timeout_must_not_be_negative;
  static constexpr value_type default_value(std::string_view environment) {
    return value_type{environment == "development" ? 5000 : 60000};
  }
};

template <>
struct setting<"socket path"> {
  using value_type = std::string_view;
  static constexpr char const* expects = "a non-empty path for the control socket";
  static constexpr auto check = detail::non_empty;
  static constexpr auto reject = &diagnostic::text_must_not_be_empty;
  static constexpr value_type default_value = "cluster.sock";
};

namespace detail {
/// What the master's health timers share (docs/health.md): a duration, 0 or at least 1000 ms.
struct health_timer_setting {
  using value_type = std::chrono::milliseconds;
  static constexpr char const* expects =
      "0 ms (off) or a duration of at least 1000 ms (the master checks every 500 ms)";
  static constexpr auto check = off_or_health_timer;
};
}  // namespace detail

template <>
struct setting<"liveness timeout"> : detail::health_timer_setting {
  static constexpr auto reject = &diagnostic::liveness_timeout_must_be_0_or_at_least_1000_ms;
  static constexpr value_type default_value{30000};
};

template <>
struct setting<"boot timeout"> : detail::health_timer_setting {
  static constexpr auto reject = &diagnostic::boot_timeout_must_be_0_or_at_least_1000_ms;
  static constexpr value_type default_value{60000};
};

template <>
struct setting<"request deadline"> : detail::health_timer_setting {
  static constexpr auto reject = &diagnostic::request_deadline_must_be_0_or_at_least_1000_ms;
  static constexpr value_type default_value{0};
};

template <>
struct setting<"max requests"> {
  using value_type = unsigned;
  static constexpr char const* expects = "a count of requests (0: never recycle for requests)";
  static constexpr value_type default_value = 0;
};

template <>
struct setting<"max age"> : detail::health_timer_setting {
  static constexpr auto reject = &diagnostic::max_age_must_be_0_or_at_least_1000_ms;
  static constexpr value_type default_value{0};
};

template <>
struct setting<"max memory"> {
  using value_type = unsigned;
  static constexpr char const* expects =
      "a size in MiB of memory a worker owns (PSS; 0: never recycle for memory)";
  static constexpr value_type default_value = 0;
};

template <>
struct setting<"recycle at once"> {
  using value_type = unsigned;
  static constexpr char const* expects = "a count of at least 1";
  static constexpr bool check(unsigned n) { return n >= 1; }
  static constexpr auto reject = &diagnostic::recycle_at_once_must_be_at_least_1;
  static constexpr value_type default_value = 1;
};

namespace detail {

/// What is wrong between two resolved settings that are each fine on their own (docs/health.md,
/// "How the timers relate"), as one line for stderr; empty when nothing is. A value passed to
/// `.set<>()` is a constant only within its own call, so relations are checked here, at
/// start-up, before anything is bound or forked, for constants and runtime values alike.
inline std::string timer_relation_problem(core_settings const& s) {
  // A graceful stop (a shutdown, a rolling or master restart, a recycle) kills a worker after
  // `timeout`: a deadline that is not below it lets requests run that every stop would cut.
  if (s.request_deadline.count() > 0 && s.timeout.count() > 0 && s.request_deadline >= s.timeout)
    return "cluster: the request deadline (" + std::to_string(s.request_deadline.count()) +
           " ms) is not below timeout (" + std::to_string(s.timeout.count()) +
           " ms): a graceful stop would kill workers in requests still within their deadline; "
           "lower the request deadline or raise timeout";
  return {};
}

}  // namespace detail

//=== queries on keys ===//

namespace detail {

/// True when `Key` names a declared setting (built in, or declared by a plugin or the user).
template <fixed_string Key>
inline constexpr bool is_known_key = requires {
  typename setting<Key>::value_type;
};

template <fixed_string Key>
struct value_type_of {
  struct unknown {};
  using type = unknown;
};
template <fixed_string Key>
requires is_known_key<Key>
struct value_type_of<Key> {
  using type = typename setting<Key>::value_type;
};

template <class Descriptor>
constexpr bool passes_check(typename Descriptor::value_type const& value) {
  if constexpr (requires { Descriptor::check(value); }) {
    return Descriptor::check(value);
  } else {
    return true;
  }
}

/// What is wrong with a value given to `set<Key>()`, if anything.
enum class verdict : unsigned char {
  fine,
  breaks_rule,   ///< fails the key's `check`
  does_not_fit,  ///< does not fit the key's `value_type` (see `fit`)
};

/// Judges `arg`, given to `set<Key>()`, from the argument and its `nearest` value of the key's
/// type (`value_traits::from`), in the same order for constants and for run-time values.
template <fixed_string Key, class Arg>
constexpr verdict judge(Arg const& arg, typename setting<Key>::value_type const& nearest) {
  using traits = value_traits<typename setting<Key>::value_type>;
  fit const f = fit_of<traits>(arg);
  // A duration that is not whole milliseconds is told first: its truncated value would mislead
  // the key's rule (500us is longer than 0 ms, not 0 ms).
  if (f == fit::inexact) return verdict::does_not_fit;
  // The key's rule next, on the nearest value: a value beyond the type on the side the rule
  // forbids anyway is better told by the rule (.set<"workers">(-1): "at least 1").
  if (!passes_check<setting<Key>>(nearest)) return verdict::breaks_rule;
  return f == fit::fits ? verdict::fine : verdict::does_not_fit;
}

/// The default of `Key` in `environment`, or a value-initialized `value_type` when the key
/// declares none.
template <fixed_string Key>
constexpr typename setting<Key>::value_type default_of(std::string_view environment) {
  using descriptor = setting<Key>;
  if constexpr (requires { descriptor::default_value(environment); }) {
    return descriptor::default_value(environment);
  } else if constexpr (requires { descriptor::default_value; }) {
    return descriptor::default_value;
  } else {
    return typename descriptor::value_type{};
  }
}

}  // namespace detail

//=== values given to set<"key">() ===//

/// A value known only at run time, for `set`, `listen` and friends; validated at start-up,
/// before anything is forked, with the same wording as the compile-time checks.
///
/// Example: `.set<"workers">(cluster::runtime(workers_from_flag))`.
template <class T>
struct runtime_value {
  T value;
};

/// Marks a value as known only at run time (see `runtime_value`).
template <class T>
constexpr runtime_value<std::decay_t<T>> runtime(T&& value) {
  return {std::forward<T>(value)};
}

/// The parameter of `set<Key>()` for constants: converting to it checks the argument's type and
/// value at compile time, so that a mistake is reported at the user's call.
template <fixed_string Key>
struct value_for {
  using value_type = typename detail::value_type_of<Key>::type;
  value_type value;

  template <class Arg>
  consteval value_for(Arg const& arg)  // NOLINT(google-explicit-constructor)
      : value{} {
    if constexpr (!detail::is_known_key<Key>) {
      static_assert(detail::always_false<Arg>,
                    "cluster: unknown setting name in .set<\"...\">(); the keys are listed in "
                    "docs/configuration.md, and your own keys are declared by specializing "
                    "cluster::setting<\"name\">");
    } else if constexpr (!detail::value_traits<value_type>::template accepts<Arg>) {
      // The traits' own static_assert says which kind of value this key takes.
      value = detail::value_traits<value_type>::from(arg);
    } else {
      using traits = detail::value_traits<value_type>;
      value = traits::from(arg);
      detail::verdict const verdict = detail::judge<Key>(arg, value);
      if constexpr (requires { setting<Key>::reject; }) {
        if (verdict == detail::verdict::breaks_rule) setting<Key>::reject();
      }
      // Without a reject function a key's rule is not checked on constants, but a value that
      // does not fit its type is still never cut to fit.
      if (verdict != detail::verdict::fine)
        detail::reject_unfit<traits>(detail::fit_of<traits>(arg));
    }
  }
};

namespace detail {

/// The start-up check of `cluster::runtime(arg)` given to `set<Key>()`: an empty string when the
/// value is acceptable, else the one-line error, in the words of the compile-time checks.
template <fixed_string Key, class Arg>
std::string runtime_problem(Arg const& arg) {
  using descriptor = setting<Key>;
  using traits = value_traits<typename descriptor::value_type>;
  std::string const call =
      std::string{"cluster: .set<\""} + std::string{Key.view()} + "\">(cluster::runtime(";
  switch (judge<Key>(arg, traits::from(arg))) {
    case verdict::fine:
      return {};
    case verdict::breaks_rule:
      return call + "...)) expects " + descriptor::expects;
    case verdict::does_not_fit:
      return call + value_text(arg) + ")) " + explain_unfit<traits>(fit_of<traits>(arg)) +
             "; expects " + descriptor::expects;
  }
  return {};
}

}  // namespace detail

}  // namespace cluster
