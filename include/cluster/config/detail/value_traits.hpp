// SPDX-License-Identifier: BSL-1.0
// How a value given to set<"...">() becomes the setting's value type, with one readable error.
#pragma once

#include "../core_settings.hpp"

#include <chrono>
#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

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
                        (std::is_array_v<T> && std::same_as<std::remove_extent_t<T>, char const>) ||
                        (std::is_array_v<T> && std::same_as<std::remove_extent_t<T>, char>) ||
                        std::same_as<T, char const*>;

/// Text known only at run time, stored by value in the builder.
template <class T>
concept owned_text = std::same_as<T, std::string>;

/// Converts a user's argument to the setting's `Value`. One specialization per kind of value;
/// the generic one accepts whatever converts implicitly (user-declared settings).
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

template <>
struct value_traits<unsigned> {
  template <class Arg>
  static constexpr bool accepts = plain_integer<Arg>;

  template <class Arg>
  static constexpr unsigned from(Arg const& arg) {
    if constexpr (accepts<Arg>) {
      // Negative values become huge unsigned ones; clamp so the range check rejects them.
      if constexpr (std::is_signed_v<Arg>) {
        if (arg < 0) return 0;
      }
      return static_cast<unsigned>(arg);
    } else {
      static_assert(always_false<Arg>,
                    "cluster: this setting takes a whole number, e.g. .set<\"workers\">(4); "
                    "not a string, a bool or a floating-point value");
      return 0;
    }
  }
};

template <>
struct value_traits<int> {
  template <class Arg>
  static constexpr bool accepts = plain_integer<Arg>;

  template <class Arg>
  static constexpr int from(Arg const& arg) {
    if constexpr (accepts<Arg>) {
      return static_cast<int>(arg);
    } else {
      static_assert(always_false<Arg>,
                    "cluster: this setting takes a whole number, e.g. .set<\"backlog\">(511); "
                    "not a string, a bool or a floating-point value");
      return 0;
    }
  }
};

template <>
struct value_traits<std::chrono::milliseconds> {
  template <class Arg>
  static constexpr bool accepts = plain_integer<Arg> || is_duration<Arg>::value;

  template <class Arg>
  static constexpr std::chrono::milliseconds from(Arg const& arg) {
    if constexpr (plain_integer<Arg>) {
      return std::chrono::milliseconds{static_cast<std::chrono::milliseconds::rep>(arg)};
    } else if constexpr (is_duration<Arg>::value) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(arg);
    } else {
      static_assert(always_false<Arg>,
                    "cluster: this setting takes a duration: milliseconds as a whole number, "
                    "e.g. .set<\"timeout\">(30000), or a std::chrono duration such as 30s");
      return {};
    }
  }
};

template <>
struct value_traits<std::string_view> {
  template <class Arg>
  static constexpr bool accepts = constant_text<Arg> || owned_text<Arg>;

  template <class Arg>
  static constexpr std::string_view from(Arg const& arg) {
    if constexpr (accepts<Arg>) {
      return std::string_view{arg};
    } else {
      static_assert(always_false<Arg>,
                    "cluster: this setting takes text, e.g. .set<\"title\">(\"my app\"); "
                    "for a string known only at run time use cluster::runtime(text)");
      return {};
    }
  }
};

template <>
struct value_traits<identity> {
  template <class Arg>
  static constexpr bool accepts = constant_text<Arg> || owned_text<Arg> || plain_integer<Arg>;

  template <class Arg>
  static constexpr identity from(Arg const& arg) {
    if constexpr (plain_integer<Arg>) {
      return identity{{}, arg < 0 ? -2 : static_cast<long>(arg)};
    } else if constexpr (accepts<Arg>) {
      return identity{std::string_view{arg}, -1};
    } else {
      static_assert(always_false<Arg>,
                    "cluster: user and group take a name or a numeric id, "
                    "e.g. .set<\"user\">(\"www-data\") or .set<\"user\">(33)");
      return {};
    }
  }
};

}  // namespace cluster::detail
