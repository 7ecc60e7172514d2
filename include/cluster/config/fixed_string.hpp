// SPDX-License-Identifier: BSL-1.0
// A string literal usable as a template argument: setting keys and environment names.
#pragma once

#include <cstddef>
#include <string_view>

namespace cluster {

/// A compile-time string of `N` characters, structural so that it can be a template argument.
///
/// Example: `cluster::setting<"workers">`, `.in<"production">()`.
template <std::size_t N>
struct fixed_string {
  char data_[N + 1] = {};

  constexpr fixed_string(
      char const (&text)[N + 1]) noexcept {  // NOLINT(google-explicit-constructor)
    for (std::size_t i = 0; i != N + 1; ++i) data_[i] = text[i];
  }

  // An empty key (N == 0) is an empty view on purpose.
  [[nodiscard]] constexpr std::string_view view() const noexcept {
    return {data_, N};  // NOLINT(bugprone-string-constructor)
  }
  [[nodiscard]] constexpr char const* c_str() const noexcept { return data_; }
  [[nodiscard]] static constexpr std::size_t size() noexcept { return N; }

  template <std::size_t M>
  [[nodiscard]] constexpr bool operator==(fixed_string<M> const& other) const noexcept {
    return view() == other.view();
  }
};

template <std::size_t M>
fixed_string(char const (&)[M]) -> fixed_string<M - 1>;

}  // namespace cluster
