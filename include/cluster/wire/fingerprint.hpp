// SPDX-License-Identifier: BSL-1.0
// The structural fingerprint of a handover type: what tells a new build that the bytes it is
// handed were written for another layout. Private to <cluster/restart_state.hpp>.
#pragma once

#include <cluster/wire/handover_types.hpp>

#include <boost/pfr/core.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace cluster::detail::wire {

//=== the structural fingerprint ===//

/// FNV-1a, 64 bits: a fixed, portable hash that a constant expression can compute.
struct fnv1a {
  std::uint64_t hash = 14695981039346656037ull;
  constexpr void add(std::string_view text) noexcept {
    for (char c : text) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ull;
    }
  }
};

struct text_sink {
  std::string text;
  void add(std::string_view more) { text += more; }
};

template <class Sink>
constexpr void add_number(Sink& out, std::size_t n) {
  char digits[20] = {};
  std::size_t first = sizeof digits;
  do {
    digits[--first] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  out.add(std::string_view(digits + first, sizeof digits - first));
}

template <class T, class Sink>
constexpr void describe(Sink& out);

template <class T, class Sink, std::size_t... I>
constexpr void describe_fields(Sink& out, std::index_sequence<I...>) {
  ((out.add(I == 0 ? "" : ","), describe<boost::pfr::tuple_element_t<I, T>>(out)), ...);
}

/// Writes the structure of `T` as text: "{u64,str,[i32]}" for
/// `struct { std::uint64_t a; std::string b; std::vector<int> c; }`.
///
/// The text names what decides the bytes on the wire (widths, signedness, nesting, the order of
/// fields) and nothing else: renaming a field keeps it, reordering or retyping one changes it.
/// Enum values and field meanings are not visible here; changing those needs a new
/// handover_version.
template <class T, class Sink>
constexpr void describe(Sink& out) {
  if constexpr (std::is_same_v<T, bool>) {
    out.add("b");
  } else if constexpr (std::is_integral_v<T>) {
    out.add(std::is_signed_v<T> ? "i" : "u");
    add_number(out, 8 * sizeof(T));
  } else if constexpr (std::is_enum_v<T>) {
    out.add("e");
    describe<std::underlying_type_t<T>>(out);
  } else if constexpr (std::is_floating_point_v<T>) {
    out.add("f");
    add_number(out, 8 * sizeof(T));
  } else if constexpr (std::is_same_v<T, std::string>) {
    out.add("str");
  } else if constexpr (is_vector<T>::value) {
    out.add("[");
    describe<typename T::value_type>(out);
    out.add("]");
  } else if constexpr (is_optional<T>::value) {
    out.add("?");
    describe<typename T::value_type>(out);
  } else if constexpr (is_std_array<T>::value) {
    out.add("[");
    describe<typename T::value_type>(out);
    out.add(";");
    add_number(out, std::tuple_size_v<T>);
    out.add("]");
  } else if constexpr (is_pair<T>::value) {
    out.add("(");
    describe<typename T::first_type>(out);
    out.add(",");
    describe<typename T::second_type>(out);
    out.add(")");
  } else {
    out.add("{");
    describe_fields<T>(out, field_indices<T>{});
    out.add("}");
  }
}

/// The structure of `T` as text (see describe); what the fingerprint hashes.
template <class T>
std::string description() {
  text_sink out;
  describe<T>(out);
  return std::move(out.text);
}

/// The hash of `T`'s description, computed at compile time.
template <class T>
inline constexpr std::uint64_t fingerprint = [] {
  fnv1a out;
  describe<T>(out);
  return out.hash;
}();

}  // namespace cluster::detail::wire
