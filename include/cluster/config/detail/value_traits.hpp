// SPDX-License-Identifier: BSL-1.0
// How a value given to set<"...">() becomes the setting's value type, with one readable error.
#pragma once

#include "../core_settings.hpp"

#include <sys/types.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <ratio>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

/// Functions whose names are the compile-time diagnostics for constants that do not fit the type
/// of their setting, whatever the key (built in, a plugin's or the user's own). Like the other
/// names in `cluster::diagnostic`, they are declared and never defined: reaching one during
/// constant evaluation stops the compilation with its name on the error line.
namespace cluster::diagnostic {
void value_does_not_fit_in_signed_char();
void value_does_not_fit_in_unsigned_char();
void value_does_not_fit_in_short();
void value_does_not_fit_in_unsigned_short();
void value_does_not_fit_in_int();
void value_does_not_fit_in_unsigned();
void value_does_not_fit_in_long();
void value_does_not_fit_in_unsigned_long();
void value_does_not_fit_in_long_long();
void value_does_not_fit_in_unsigned_long_long();
void duration_must_not_be_longer_than_146_years();
void duration_must_be_a_whole_number_of_milliseconds();
void user_or_group_id_must_be_at_most_4294967294();
}  // namespace cluster::diagnostic

namespace cluster::detail {

template <class... T>
inline constexpr bool always_false = false;

/// A plain integer: not bool, not a character type (both are almost always a typo).
template <class T>
concept plain_integer = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char> &&
                        !std::same_as<T, char8_t> && !std::same_as<T, char16_t> &&
                        !std::same_as<T, char32_t> && !std::same_as<T, wchar_t>;

template <class T>
struct is_duration : std::false_type {};
template <class Rep, class Period>
struct is_duration<std::chrono::duration<Rep, Period>> : std::true_type {};

/// Text known at compile time: a string literal, a character array or a string_view.
template <class T>
concept constant_text = std::same_as<T, std::string_view> ||
                        (std::is_array_v<T>&& std::same_as<std::remove_extent_t<T>, char const>) ||
                        (std::is_array_v<T> && std::same_as<std::remove_extent_t<T>, char>) ||
                        std::same_as<T, char const*>;

/// Text known only at run time, stored by value in the builder.
template <class T>
concept owned_text = std::same_as<T, std::string>;

/// Whether a value of the right kind also fits the setting's type. A conversion that does not
/// fit is never done silently: a constant stops the compilation, a `cluster::runtime` value stops
/// the start-up (see `value_for` and `runtime_problem` in settings.hpp).
enum class fit : unsigned char {
  fits,
  out_of_range,  ///< beyond the type's range (a too large count, a too long duration)
  inexact,       ///< a duration that is not a whole number of milliseconds
};

/// Converts a user's argument to the setting's `Value`. One specialization per kind of value;
/// the generic one accepts whatever converts implicitly (user-declared settings of class types).
///
/// Each specialization has `accepts<Arg>`; `from(arg)`, the nearest `Value` (at the end of the
/// range for a value beyond it), which never has undefined behaviour, since run-time values are
/// converted before they are judged; and, where a value of the right kind can still not fit,
/// `fit_of(arg)`, `reject(fit)`, which calls the diagnostic, and `explain(fit)`, its words for
/// the start-up error.
template <class Value>
struct value_traits {
  template <class Arg>
  static constexpr bool accepts = std::is_convertible_v<Arg const&, Value>;

  template <class Arg>
  static constexpr Value from(Arg const& arg) {
    if constexpr (accepts<Arg>) {
      return arg;
    } else {
      static_assert(always_false<Arg>,
                    "cluster: this value does not convert to the type the setting declares "
                    "(its value_type); pass a value of that type");
      return Value{};
    }
  }
};

//--- whole numbers ---//

/// The diagnostic and the name of each standard integer type a setting may declare.
template <class T>
struct integer_type;
template <>
struct integer_type<signed char> {
  static constexpr auto reject = &diagnostic::value_does_not_fit_in_signed_char;
  static constexpr char const* name = "signed char";
};
template <>
struct integer_type<unsigned char> {
  static constexpr auto reject = &diagnostic::value_does_not_fit_in_unsigned_char;
  static constexpr char const* name = "unsigned char";
};
template <>
struct integer_type<short> {
  static constexpr auto reject = &diagnostic::value_does_not_fit_in_short;
  static constexpr char const* name = "short";
};
template <>
struct integer_type<unsigned short> {
  static constexpr auto reject = &diagnostic::value_does_not_fit_in_unsigned_short;
  static constexpr char const* name = "unsigned short";
};
template <>
struct integer_type<int> {
  static constexpr auto reject = &diagnostic::value_does_not_fit_in_int;
  static constexpr char const* name = "int";
};
template <>
struct integer_type<unsigned> {
  static constexpr auto reject = &diagnostic::value_does_not_fit_in_unsigned;
  static constexpr char const* name = "unsigned";
};
template <>
struct integer_type<long> {
  static constexpr auto reject = &diagnostic::value_does_not_fit_in_long;
  static constexpr char const* name = "long";
};
template <>
struct integer_type<unsigned long> {
  static constexpr auto reject = &diagnostic::value_does_not_fit_in_unsigned_long;
  static constexpr char const* name = "unsigned long";
};
template <>
struct integer_type<long long> {
  static constexpr auto reject = &diagnostic::value_does_not_fit_in_long_long;
  static constexpr char const* name = "long long";
};
template <>
struct integer_type<unsigned long long> {
  static constexpr auto reject = &diagnostic::value_does_not_fit_in_unsigned_long_long;
  static constexpr char const* name = "unsigned long long";
};

/// Every standard whole-number type (`workers` is `unsigned`, `backlog` an `int`, and a key of
/// one's own may be a `std::size_t` or a `std::uint16_t`): takes whole numbers only, and only
/// those that fit.
template <class Value>
requires plain_integer<Value> && requires { integer_type<Value>::name; }
struct value_traits<Value> {
  template <class Arg>
  static constexpr bool accepts = plain_integer<Arg>;

  template <class Arg>
  static constexpr Value from(Arg const& arg) {
    if constexpr (accepts<Arg>) {
      // The nearest end of the range, so that a negative count meets the key's own rule
      // ("at least 1") rather than wrapping to a huge number that would pass it.
      if (std::cmp_less(arg, std::numeric_limits<Value>::min()))
        return std::numeric_limits<Value>::min();
      if (std::cmp_greater(arg, std::numeric_limits<Value>::max()))
        return std::numeric_limits<Value>::max();
      return static_cast<Value>(arg);
    } else if constexpr (std::same_as<Value, unsigned>) {
      static_assert(always_false<Arg>,
                    "cluster: this setting takes a whole number, e.g. .set<\"workers\">(4); "
                    "not a string, a bool or a floating-point value");
      return 0;
    } else if constexpr (std::same_as<Value, int>) {
      static_assert(always_false<Arg>,
                    "cluster: this setting takes a whole number, e.g. .set<\"backlog\">(511); "
                    "not a string, a bool or a floating-point value");
      return 0;
    } else {
      static_assert(always_false<Arg>,
                    "cluster: this setting takes a whole number; not a string, a bool, a "
                    "character or a floating-point value");
      return 0;
    }
  }

  template <class Arg>
  static constexpr fit fit_of(Arg const& arg) {
    return std::in_range<Value>(arg) ? fit::fits : fit::out_of_range;
  }

  static constexpr void reject(fit f) {
    if (f != fit::fits) integer_type<Value>::reject();
  }

  static std::string explain(fit /*f*/) {
    return std::string{"does not fit in "} + integer_type<Value>::name;
  }
};

/// `bool` and the character types: a number given to them would be converted silently (2 to
/// true, 300 to a char), so they take a value of their own type only.
template <class Value>
requires(std::integral<Value> && !plain_integer<Value>) struct value_traits<Value> {
  template <class Arg>
  static constexpr bool accepts = std::same_as<Arg, Value>;

  template <class Arg>
  static constexpr Value from(Arg const& arg) {
    if constexpr (accepts<Arg>) {
      return arg;
    } else if constexpr (std::same_as<Value, bool>) {
      static_assert(always_false<Arg>,
                    "cluster: this setting takes true or false; not a number or text");
      return false;
    } else {
      static_assert(always_false<Arg>,
                    "cluster: this setting takes a character of its own type, e.g. 'x'; not a "
                    "number, which would be cut to fit");
      return Value{};
    }
  }
};

//--- durations ---//

/// The longest duration a setting takes, either way: half of what the master's steady clock
/// holds, so that the master can add any of them to the current time (its deadlines, its
/// restart threshold) without overflow. A `timeout` of `milliseconds::max()`, meant as "never",
/// would otherwise wrap around to a deadline in the past.
inline constexpr std::chrono::milliseconds::rep longest_duration_ms =
    std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::duration::max())
        .count() /
    2;
static_assert(std::chrono::duration_cast<std::chrono::years>(std::chrono::milliseconds{
                                                                 longest_duration_ms})
                      .count() == 146,
              "the diagnostic duration_must_not_be_longer_than_146_years names this bound");

/// A std::chrono duration counted in a number, whole or floating-point (not a class of its own).
template <class T>
concept counted_duration = is_duration<T>::value &&
    (plain_integer<typename T::rep> || std::floating_point<typename T::rep>);

/// A duration in whole milliseconds, and whether it fits: within `longest_duration_ms` and, for
/// a finer unit, exact (1500us is not silently 1 ms). Computed without overflow for any count,
/// since a run-time value is converted before it is judged.
struct milliseconds_from {
  std::chrono::milliseconds::rep count;
  fit result;
};

/// Whole numbers of milliseconds beyond the longest duration become that duration.
template <class Int>
constexpr milliseconds_from whole_milliseconds(Int count) {
  constexpr auto longest = longest_duration_ms;
  if (std::cmp_greater(count, longest)) return {longest, fit::out_of_range};
  if (std::cmp_less(count, -longest)) return {-longest, fit::out_of_range};
  return {static_cast<std::chrono::milliseconds::rep>(count), fit::fits};
}

template <class Rep, class Period>
requires counted_duration<std::chrono::duration<Rep, Period>>
constexpr milliseconds_from to_milliseconds(std::chrono::duration<Rep, Period> const& d) {
  // One unit of the argument is num/den milliseconds, the ratio reduced by std::ratio.
  using per_unit = std::ratio_divide<Period, std::milli>;
  constexpr auto longest = longest_duration_ms;
  if constexpr (std::floating_point<Rep>) {
    constexpr Rep infinite = std::numeric_limits<Rep>::infinity();
    // NaN, no duration at all, compares false with everything. It is caught before any
    // arithmetic, which constant evaluation refuses to do on it.
    if (!(d.count() >= -infinite && d.count() <= infinite)) return {longest, fit::out_of_range};
    long double const ms = static_cast<long double>(d.count()) * per_unit::num / per_unit::den;
    auto const bound = static_cast<long double>(longest);
    if (ms > bound) return {longest, fit::out_of_range};
    if (ms < -bound) return {-longest, fit::out_of_range};
    auto const nearest =
        static_cast<std::chrono::milliseconds::rep>(ms < 0 ? ms - 0.5L : ms + 0.5L);
    long double const off = ms - static_cast<long double>(nearest);
    // 1.5ms is not whole; 0.1s is, though 0.1 has no exact binary form: a nanosecond of
    // rounding error is forgiven.
    constexpr long double tolerance = 1e-6L;
    bool const whole = off <= tolerance && off >= -tolerance;
    return {nearest, whole ? fit::fits : fit::inexact};
  } else {
    // Sign and magnitude in the widest unsigned type: no overflow, whatever the count's type.
    bool const negative = std::cmp_less(d.count(), 0);
    std::uintmax_t const magnitude =
        negative ? std::uintmax_t{0} - static_cast<std::uintmax_t>(d.count())
                 : static_cast<std::uintmax_t>(d.count());
    constexpr auto num = static_cast<std::uintmax_t>(per_unit::num);
    constexpr auto den = static_cast<std::uintmax_t>(per_unit::den);
    std::uintmax_t const units = magnitude / den;
    // The ratio is reduced, so magnitude * num / den is whole exactly when den divides magnitude.
    fit const exact = magnitude % den == 0 ? fit::fits : fit::inexact;
    if (units > static_cast<std::uintmax_t>(longest) / num)
      return {negative ? -longest : longest, exact == fit::inexact ? exact : fit::out_of_range};
    auto const ms = static_cast<std::chrono::milliseconds::rep>(units * num);
    return {negative ? -ms : ms, exact};
  }
}

template <>
struct value_traits<std::chrono::milliseconds> {
  template <class Arg>
  static constexpr bool accepts = plain_integer<Arg> || counted_duration<Arg>;

  template <class Arg>
  static constexpr milliseconds_from convert(Arg const& arg) {
    if constexpr (plain_integer<Arg>) {
      return whole_milliseconds(arg);
    } else {
      return to_milliseconds(arg);
    }
  }

  template <class Arg>
  static constexpr std::chrono::milliseconds from(Arg const& arg) {
    if constexpr (accepts<Arg>) {
      return std::chrono::milliseconds{convert(arg).count};
    } else {
      static_assert(always_false<Arg>,
                    "cluster: this setting takes a duration: milliseconds as a whole number, "
                    "e.g. .set<\"timeout\">(30000), or a std::chrono duration such as 30s");
      return {};
    }
  }

  template <class Arg>
  static constexpr fit fit_of(Arg const& arg) {
    return convert(arg).result;
  }

  static constexpr void reject(fit f) {
    if (f == fit::inexact) diagnostic::duration_must_be_a_whole_number_of_milliseconds();
    if (f == fit::out_of_range) diagnostic::duration_must_not_be_longer_than_146_years();
  }

  static std::string explain(fit f) {
    return f == fit::inexact ? "is not a whole number of milliseconds"
                             : "is longer than 146 years, more than the master's clock can add "
                               "to the current time";
  }
};

//--- text ---//

template <>
struct value_traits<std::string_view> {
  template <class Arg>
  static constexpr bool accepts = constant_text<Arg> || owned_text<Arg>;

  template <class Arg>
  static constexpr std::string_view from(Arg const& arg) {
    if constexpr (std::same_as<Arg, char const*>) {
      // A null pointer is no text; as empty text, it meets the key's "not empty" rule.
      return arg == nullptr ? std::string_view{} : std::string_view{arg};
    } else if constexpr (accepts<Arg>) {
      return std::string_view{arg};
    } else {
      static_assert(always_false<Arg>,
                    "cluster: this setting takes text, e.g. .set<\"title\">(\"my app\"); "
                    "for a string known only at run time use cluster::runtime(text)");
      return {};
    }
  }
};

//--- users and groups ---//

/// The largest user or group id: uid_t and gid_t hold one more, (uid_t)-1, which setuid() and
/// setgid() take as "leave unchanged", so 4294967295 would silently keep the master's user.
inline constexpr long largest_id = static_cast<long>(
    std::min<std::uintmax_t>(std::numeric_limits<uid_t>::max(), std::numeric_limits<gid_t>::max()) -
    1);
static_assert(largest_id == 4294967294,
              "the diagnostic user_or_group_id_must_be_at_most_4294967294 names this bound");

template <>
struct value_traits<identity> {
  template <class Arg>
  static constexpr bool accepts = constant_text<Arg> || owned_text<Arg> || plain_integer<Arg>;

  template <class Arg>
  static constexpr identity from(Arg const& arg) {
    if constexpr (plain_integer<Arg>) {
      // -2 for a negative id meets the key's rule (id -1 would mean "not given"); above the
      // largest id, one more: still a number, which the range check rejects.
      if (std::cmp_less(arg, 0)) return identity{{}, -2};
      if (std::cmp_greater(arg, largest_id)) return identity{{}, largest_id + 1};
      return identity{{}, static_cast<long>(arg)};
    } else if constexpr (std::same_as<Arg, char const*>) {
      return identity{arg == nullptr ? std::string_view{} : std::string_view{arg}, -1};
    } else if constexpr (accepts<Arg>) {
      return identity{std::string_view{arg}, -1};
    } else {
      static_assert(always_false<Arg>,
                    "cluster: user and group take a name or a numeric id, "
                    "e.g. .set<\"user\">(\"www-data\") or .set<\"user\">(33)");
      return {};
    }
  }

  template <class Arg>
  static constexpr fit fit_of(Arg const& arg) {
    if constexpr (plain_integer<Arg>) {
      return std::cmp_greater(arg, largest_id) ? fit::out_of_range : fit::fits;
    } else {
      return fit::fits;
    }
  }

  static constexpr void reject(fit f) {
    if (f != fit::fits) diagnostic::user_or_group_id_must_be_at_most_4294967294();
  }

  static std::string explain(fit /*f*/) {
    return "is above 4294967294, the largest user or group id";
  }
};

//--- what every kind shares ---//

/// `Traits::fit_of(arg)`, or `fits` for the kinds of value that always fit (text, class types).
template <class Traits, class Arg>
constexpr fit fit_of(Arg const& arg) {
  if constexpr (requires { Traits::fit_of(arg); }) {
    return Traits::fit_of(arg);
  } else {
    return fit::fits;
  }
}

/// Stops a constant evaluation at the diagnostic for `f`; does nothing when the value fits.
template <class Traits>
constexpr void reject_unfit(fit f) {
  if constexpr (requires { Traits::reject(f); }) Traits::reject(f);
}

/// The words of a start-up error for `f` ("does not fit in unsigned").
template <class Traits>
std::string explain_unfit(fit f) {
  if constexpr (requires { Traits::explain(f); }) {
    return Traits::explain(f);
  } else {
    return "does not fit this setting";
  }
}

/// A number as C++ would print it, for start-up errors.
template <class T>
std::string number_text(T value) {
  if constexpr (std::floating_point<T>) {
    char text[64];
    auto const end = std::to_chars(text, text + sizeof text, value).ptr;
    return std::string(text, end);
  } else if constexpr (std::integral<T>) {
    return std::to_string(value);
  } else {
    return "...";
  }
}

/// A value given to `cluster::runtime()` as the user would write it ("4294967297", "1500us"),
/// for start-up errors about values that do not fit.
template <class T>
std::string value_text(T const& value) {
  if constexpr (is_duration<T>::value) {
    using period = typename T::period;
    std::string const count = number_text(value.count());
    if constexpr (std::is_same_v<period, std::nano>)
      return count + "ns";
    else if constexpr (std::is_same_v<period, std::micro>)
      return count + "us";
    else if constexpr (std::is_same_v<period, std::milli>)
      return count + "ms";
    else if constexpr (std::is_same_v<period, std::ratio<1>>)
      return count + "s";
    else if constexpr (std::is_same_v<period, std::ratio<60>>)
      return count + "min";
    else if constexpr (std::is_same_v<period, std::ratio<3600>>)
      return count + "h";
    else if constexpr (std::is_same_v<period, std::ratio<86400>>)
      return count + "d";
    else if constexpr (period::den == 1)
      return count + "[" + std::to_string(period::num) + "]s";
    else
      return count + "[" + std::to_string(period::num) + "/" + std::to_string(period::den) + "]s";
  } else {
    return number_text(value);
  }
}

}  // namespace cluster::detail
