// SPDX-License-Identifier: BSL-1.0
// What plugins hand from an old master to a new one across a restart: typed, versioned parts.
#pragma once

#include <cluster/config/detail/value_traits.hpp>
#include <cluster/config/fixed_string.hpp>
#include <cluster/events.hpp>

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

/// How a handover value becomes bytes and back, and which types may be handed over.
///
/// The bytes cross from one build of the program to another (SIGUSR2 starts the executable on
/// disk, possibly rebuilt), so nothing here depends on the in-memory layout of a type: every
/// value is written field by field, integers as fixed-width little-endian, and every length is
/// written before what it measures. A reader trusts nothing it reads: each length is bounded by
/// the bytes that remain before anything is allocated.
namespace cluster::detail::wire {

//=== the types a handover may hold ===//

template <class T>
struct is_vector : std::false_type {};
template <class E>
struct is_vector<std::vector<E>> : std::true_type {};
template <class T>
struct is_optional : std::false_type {};
template <class E>
struct is_optional<std::optional<E>> : std::true_type {};
template <class T>
struct is_std_array : std::false_type {};
template <class E, std::size_t N>
struct is_std_array<std::array<E, N>> : std::true_type {};
template <class T>
struct is_pair : std::false_type {};
template <class A, class B>
struct is_pair<std::pair<A, B>> : std::true_type {};

/// An enum whose every value of the underlying type is a valid value (C++17 allows `E{n}` only
/// for those). Without a fixed underlying type, a value read back could lie outside the enum's
/// range, which is undefined behaviour.
template <class E>
concept fixed_enum = std::is_enum_v<E> && requires {
  E{std::underlying_type_t<E>{}};
};

/// float and double in IEEE 754 form: their bits mean the same in every build.
template <class T>
concept ieee_float = std::numeric_limits<T>::is_iec559 &&
    (std::same_as<T, float> || std::same_as<T, double>);

template <class Base, class Derived>
concept strict_base_of = std::is_base_of_v<Base, Derived> && !std::is_same_v<Base, Derived>;

/// Converts only to a base class of `Derived`: `Derived{base_probe<Derived>{}}` compiles exactly
/// when the aggregate's first element is a base class. Boost.PFR refuses such types with an
/// error of its own, so they are recognised first.
template <class Derived>
struct base_probe {
  // Defined, though never called, for the reason given at any_field below.
  template <strict_base_of<Derived> Base>
  operator Base&() const {  // NOLINT(google-explicit-constructor)
    return (*static_cast<Base& (*)()>(nullptr))();
  }
};

template <class T>
concept derived_aggregate = requires {
  T{base_probe<T>{}};
};

template <class T>
using field_indices = std::make_index_sequence<boost::pfr::tuple_size_v<T>>;

/// Converts to anything, as a prvalue; only overload resolution ever sees it.
struct any_field {
  // Defined, though never called: clang instantiates the constexpr constructors it reaches (a
  // std::optional member's, say) and warns of an undefined function with internal linkage when
  // `Field` is a type of an anonymous namespace. Calling through a function pointer compiles for
  // every type a function can return, unlike std::declval, which must not be odr-used.
  template <class Field>
  operator Field() const {  // NOLINT(google-explicit-constructor)
    return (*static_cast<Field (*)()>(nullptr))();
  }
};

/// True when `T` takes Boost.PFR's count of fields, each initialised by its own braces.
///
/// Boost.PFR counts a C array member as one field per element (brace elision), then fails on a
/// hard error when it names the fields. A braced initialiser per field never elides, so the two
/// counts agree only when there is no C array (an empty struct member does not take `{x}`
/// either, and is refused with them).
template <class T, std::size_t... I>
consteval bool fields_braced(std::index_sequence<I...>) {
  return requires { T{{(void(I), any_field{})}...}; };
}

/// True when `T` takes Boost.PFR's count of prvalues: false when a member is a non-const
/// reference, which only an lvalue binds.
template <class T, std::size_t... I>
consteval bool fields_from_values(std::index_sequence<I...>) {
  return requires { T{(void(I), any_field{})...}; };
}

/// Why a type cannot be handed over, or `none`.
enum class refusal : unsigned char {
  none,
  other,
  const_or_reference,
  base_class,
  loose_enum,
  itself
};

template <class T>
consteval std::size_t min_size();

template <class T, class... Outer>
consteval refusal refusal_of();

template <class T, class... Outer, std::size_t... I>
consteval refusal fields_refusal(std::index_sequence<I...>) {
  refusal first = refusal::none;
  ((first = first != refusal::none ? first
                                   : refusal_of<boost::pfr::tuple_element_t<I, T>, T, Outer...>()),
   ...);
  return first;
}

/// Whether `T`, found inside the aggregates `Outer...`, can be handed over, and if not, why.
///
/// Checked in an order that never lets Boost.PFR see a type it refuses with a hard error of its
/// own (a base class, a C array): the user's first error is then always ours.
template <class T, class... Outer>
consteval refusal refusal_of() {
  if constexpr (std::is_reference_v<T> || std::is_const_v<T> || std::is_volatile_v<T>) {
    return refusal::const_or_reference;
  } else if constexpr ((std::is_same_v<T, Outer> || ...)) {
    // A type that contains itself (through a vector) could nest as deep as a hostile input
    // says, and the reader's recursion with it.
    return refusal::itself;
  } else if constexpr (std::is_integral_v<T> || std::is_same_v<T, std::string>) {
    return refusal::none;
  } else if constexpr (std::is_enum_v<T>) {
    return fixed_enum<T> ? refusal::none : refusal::loose_enum;
  } else if constexpr (std::is_floating_point_v<T>) {
    return ieee_float<T> ? refusal::none : refusal::other;
  } else if constexpr (is_vector<T>::value) {
    using element = typename T::value_type;
    constexpr refusal why = refusal_of<element, Outer...>();
    // An element that takes no bytes would let a short input announce any count.
    if constexpr (why != refusal::none)
      return why;
    else
      return min_size<element>() > 0 ? refusal::none : refusal::other;
  } else if constexpr (is_optional<T>::value || is_std_array<T>::value) {
    return refusal_of<typename T::value_type, Outer...>();
  } else if constexpr (is_pair<T>::value) {
    constexpr refusal first = refusal_of<typename T::first_type, Outer...>();
    if constexpr (first != refusal::none)
      return first;
    else
      return refusal_of<typename T::second_type, Outer...>();
  } else if constexpr (std::is_class_v<T> && std::is_aggregate_v<T>) {
    if constexpr (derived_aggregate<T>) {
      return refusal::base_class;
    } else if constexpr (!fields_braced<T>(field_indices<T>{})) {
      return fields_from_values<T>(field_indices<T>{}) ? refusal::other
                                                       : refusal::const_or_reference;
    } else {
      constexpr refusal why = fields_refusal<T, Outer...>(field_indices<T>{});
      // Boost.PFR names a reference member by its referred type; such a member (like a const
      // one) leaves the type without a default constructor or an assignment.
      if constexpr (why != refusal::none)
        return why;
      else if constexpr (!std::is_default_constructible_v<T> || !std::is_copy_assignable_v<T>)
        return refusal::const_or_reference;
      else
        return refusal::none;
    }
  } else {
    return refusal::other;
  }
}

template <class T, std::size_t... I>
consteval std::size_t fields_min_size(std::index_sequence<I...>) {
  return (std::size_t{0} + ... + min_size<boost::pfr::tuple_element_t<I, T>>());
}

/// The fewest bytes a value of `T` (a type that can be handed over) takes on the wire: what a
/// count read from the input is bounded with.
template <class T>
consteval std::size_t min_size() {
  if constexpr (std::is_enum_v<T>)
    return sizeof(std::underlying_type_t<T>);
  else if constexpr (std::is_arithmetic_v<T>)
    return sizeof(T);
  else if constexpr (std::is_same_v<T, std::string> || is_vector<T>::value)
    return 8;  // length
  else if constexpr (is_optional<T>::value)
    return 1;  // tag
  else if constexpr (is_std_array<T>::value)
    return std::tuple_size_v<T> * min_size<typename T::value_type>();
  else if constexpr (is_pair<T>::value)
    return min_size<typename T::first_type>() + min_size<typename T::second_type>();
  else
    return fields_min_size<T>(field_indices<T>{});
}

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

//=== writing and reading ===//

/// Fixed-width little-endian, byte by byte. The successor normally runs on the same machine, so
/// native order would do; spelling the order out costs nothing at this size (once per restart),
/// needs no alignment, and makes the format a definition instead of a property of the host.
template <std::unsigned_integral U>
void put_uint(std::string& out, U value) {
  for (std::size_t i = 0; i != sizeof(U); ++i)
    out.push_back(static_cast<char>(static_cast<unsigned char>(value >> (8 * i))));
}

template <class T>
void write(std::string& out, T const& value) {
  if constexpr (std::is_same_v<T, bool>) {
    put_uint(out, static_cast<std::uint8_t>(value ? 1 : 0));
  } else if constexpr (std::is_integral_v<T>) {
    put_uint(out, static_cast<std::make_unsigned_t<T>>(value));
  } else if constexpr (std::is_enum_v<T>) {
    write(out, static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::is_same_v<T, float>) {
    put_uint(out, std::bit_cast<std::uint32_t>(value));
  } else if constexpr (std::is_same_v<T, double>) {
    put_uint(out, std::bit_cast<std::uint64_t>(value));
  } else if constexpr (std::is_same_v<T, std::string>) {
    put_uint(out, static_cast<std::uint64_t>(value.size()));
    out.append(value);
  } else if constexpr (is_vector<T>::value) {
    put_uint(out, static_cast<std::uint64_t>(value.size()));
    for (auto const& element : value) write(out, element);
  } else if constexpr (is_optional<T>::value) {
    put_uint(out, static_cast<std::uint8_t>(value ? 1 : 0));
    if (value) write(out, *value);
  } else if constexpr (is_std_array<T>::value) {
    for (auto const& element : value) write(out, element);
  } else if constexpr (is_pair<T>::value) {
    write(out, value.first);
    write(out, value.second);
  } else {
    boost::pfr::for_each_field(value, [&out](auto const& field) { write(out, field); });
  }
}

/// Reads what `write` wrote, from bytes it does not trust.
///
/// The first failure (too few bytes, a count larger than the rest could hold, a bool or tag that
/// is neither 0 nor 1) stops the reader: later reads do nothing and `ok()` stays false.
class reader {
 public:
  explicit reader(std::string_view bytes) noexcept : rest_(bytes) {}

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] std::size_t left() const noexcept { return rest_.size(); }

  template <std::unsigned_integral U>
  void uint(U& out) noexcept {
    if (!take(sizeof(U))) return;
    U value = 0;
    for (std::size_t i = 0; i != sizeof(U); ++i)
      value |= static_cast<U>(static_cast<U>(static_cast<unsigned char>(taken_[i])) << (8 * i));
    out = value;
  }

  template <class T>
  void read(T& out) {
    if (!ok_) return;
    if constexpr (std::is_same_v<T, bool>) {
      std::uint8_t byte = 0;
      uint(byte);
      if (byte > 1) ok_ = false;
      out = byte == 1;
    } else if constexpr (std::is_integral_v<T>) {
      std::make_unsigned_t<T> bits = 0;
      uint(bits);
      out = static_cast<T>(bits);  // modular since C++20: the bits of the writer's value
    } else if constexpr (std::is_enum_v<T>) {
      std::underlying_type_t<T> value{};
      read(value);
      out = static_cast<T>(value);  // a fixed underlying type makes every value valid
    } else if constexpr (std::is_same_v<T, float>) {
      std::uint32_t bits = 0;
      uint(bits);
      out = std::bit_cast<float>(bits);
    } else if constexpr (std::is_same_v<T, double>) {
      std::uint64_t bits = 0;
      uint(bits);
      out = std::bit_cast<double>(bits);
    } else if constexpr (std::is_same_v<T, std::string>) {
      std::uint64_t size = 0;
      uint(size);
      if (ok_ && size > rest_.size()) ok_ = false;
      if (!ok_ || !take(static_cast<std::size_t>(size))) return;
      out.assign(taken_);
    } else if constexpr (is_vector<T>::value) {
      using element = typename T::value_type;
      std::uint64_t count = 0;
      uint(count);
      // Each element takes at least min_size bytes, so a count that the rest cannot hold is a
      // lie, refused before reserving memory for it.
      if (ok_ && count > rest_.size() / min_size<element>()) ok_ = false;
      if (!ok_) return;
      out.clear();
      out.reserve(static_cast<std::size_t>(count));
      for (std::uint64_t i = 0; i != count && ok_; ++i) {
        element e{};
        read(e);
        out.push_back(std::move(e));
      }
    } else if constexpr (is_optional<T>::value) {
      std::uint8_t tag = 0;
      uint(tag);
      if (!ok_) return;
      if (tag == 0) {
        out.reset();
      } else if (tag == 1) {
        read(out.emplace());
      } else {
        ok_ = false;
      }
    } else if constexpr (is_std_array<T>::value) {
      for (auto& element : out) read(element);
    } else if constexpr (is_pair<T>::value) {
      read(out.first);
      read(out.second);
    } else {
      boost::pfr::for_each_field(out, [this](auto& field) { this->read(field); });
    }
  }

  /// Passes over the next `n` bytes (or fails, when fewer remain).
  void skip(std::size_t n) noexcept { take(n); }

 private:
  bool take(std::size_t n) noexcept {
    if (!ok_ || n > rest_.size()) {
      ok_ = false;
      return false;
    }
    taken_ = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }

  std::string_view rest_;
  std::string_view taken_;
  bool ok_ = true;
};

//=== the envelope ===//

/// The first bytes of every state: a state is recognised before anything in it is believed.
inline constexpr std::string_view magic{"CLUSTER\0", 8};

/// The envelope's layout (magic, format, part count; per part its name, handover version,
/// fingerprint and payload). Raise it when that layout changes; a payload's own layout is each
/// plugin's handover_version.
inline constexpr std::uint32_t format_version = 1;

/// The fewest bytes a part takes: name length, version, fingerprint, payload length.
inline constexpr std::size_t min_part_size = 8 + 4 + 8 + 8;

//=== what put<P>() and get<P>() require of P ===//

template <class Plugin>
concept named = requires {
  { Plugin::name.view() } -> std::convertible_to<std::string_view>;
};

template <class Plugin>
concept has_handover = requires {
  typename Plugin::handover;
};

/// A constant that fits in 32 bits: the integral_constant does not form for a negative or
/// too large value, nor for one that is not a constant.
template <class Plugin>
concept has_handover_version = requires {
  requires std::integral<std::remove_cvref_t<decltype(Plugin::handover_version)>>;
  typename std::integral_constant<std::uint32_t, Plugin::handover_version>;
};

/// What put<P>() accepts for a plugin without a handover type: anything, braced lists included,
/// so that the call reaches the plain static_assert instead of a "no matching function" error.
struct anything {
  anything() = default;
  template <class T>
  anything(T const&) {}  // NOLINT(google-explicit-constructor)
  anything(std::initializer_list<anything>) {}
};

template <class Plugin>
struct handover_of {
  using type = anything;
};
template <has_handover Plugin>
struct handover_of<Plugin> {
  using type = typename Plugin::handover;
};

/// `Plugin::handover`, or `anything` when the plugin declares none (which put<P>() reports).
template <class Plugin>
using handover_t = typename handover_of<Plugin>::type;

/// Checks what put<P>() and get<P>() need of `Plugin`, with one plain error for the first thing
/// missing. Called in the condition of an `if constexpr`, so that a failed check adds no second
/// error from the code it guards.
template <class Plugin>
constexpr bool checked() {
  if constexpr (!named<Plugin>) {
    static_assert(always_false<Plugin>,
                  "cluster: restart_state put<P>() and get<P>() take a plugin type P, a class with "
                  "'static constexpr cluster::fixed_string name' (its name keys its part of the "
                  "state); see docs/restart.md");
    return false;
  } else if constexpr (!has_handover<Plugin>) {
    static_assert(always_false<Plugin>,
                  "cluster: this plugin declares no handover type; add 'struct handover { ... };' "
                  "to the plugin, with what it hands to the new master; see docs/restart.md");
    return false;
  } else if constexpr (!has_handover_version<Plugin>) {
    static_assert(always_false<Plugin>,
                  "cluster: this plugin declares no handover_version; add 'static constexpr "
                  "std::uint32_t handover_version = 1;' to the plugin, and raise it whenever its "
                  "handover type changes; see docs/restart.md");
    return false;
  } else {
    constexpr refusal why = refusal_of<typename Plugin::handover>();
    if constexpr (why == refusal::other) {
      static_assert(always_false<Plugin>,
                    "cluster: a plugin's handover type must be an aggregate of numbers, enums, "
                    "bools, std::string, std::vector, std::optional, std::array, std::pair or such "
                    "aggregates (no pointers, no C arrays); see docs/restart.md");
      return false;
    } else if constexpr (why == refusal::const_or_reference) {
      static_assert(always_false<Plugin>,
                    "cluster: a plugin's handover type must not have const or reference members, "
                    "since the new master rebuilds it member by member; see docs/restart.md");
      return false;
    } else if constexpr (why == refusal::base_class) {
      static_assert(always_false<Plugin>,
                    "cluster: a plugin's handover type must not have a base class; make the base "
                    "a member instead; see docs/restart.md");
      return false;
    } else if constexpr (why == refusal::loose_enum) {
      static_assert(always_false<Plugin>,
                    "cluster: an enum in a plugin's handover type needs a fixed underlying type, "
                    "e.g. 'enum class mode' or 'enum mode : int', so that every value read back "
                    "is valid; see docs/restart.md");
      return false;
    } else if constexpr (why == refusal::itself) {
      static_assert(always_false<Plugin>,
                    "cluster: a plugin's handover type must not contain itself (e.g. a "
                    "std::vector of itself); see docs/restart.md");
      return false;
    } else {
      return true;
    }
  }
}

}  // namespace cluster::detail::wire

namespace cluster {

/// What plugins hand from the old master to the new one when the master restarts (SIGUSR2).
///
/// In `events::restarting` each plugin stores its part with `put<Plugin>(value)`; the old master
/// sends `serialize()` to its successor, which `parse`s it and emits `events::restart`, where each
/// plugin reads its part back with `get<Plugin>()`. The successor may be a different build, so
/// each part carries the plugin's `handover_version` and a fingerprint of its `handover` type's
/// structure: a part this build cannot read is refused, never misread.
///
/// *Requires* of a plugin that hands state over: `static constexpr cluster::fixed_string name`,
/// `struct handover { ... };` (an aggregate of numbers, enums, bools, std::string, std::vector,
/// std::optional, std::array, std::pair, and such aggregates) and
/// `static constexpr std::uint32_t handover_version`. Missing any of them, or a handover type
/// that cannot be written, is a compile error in one line.
///
/// *Example:*
/// ```cpp
/// struct counter {
///   static constexpr cluster::fixed_string name = "counter";
///   struct handover { std::uint64_t served; std::string note; };
///   static constexpr std::uint32_t handover_version = 1;
///   std::uint64_t served = 0;
///   template <class Master> void on(cluster::events::restarting const& ev, Master&) {
///     ev.state.put<counter>({served, "ok"});
///   }
///   template <class Master> void on(cluster::events::restart const& ev, Master&) {
///     if (auto h = ev.state.get<counter>()) served = h->served;
///   }
/// };
/// ```
/// See docs/restart.md.
class restart_state {
 public:
  /// Stores `Plugin`'s part, replacing one stored before: call it in
  /// `on(events::restarting const&, Master&)`. The parameter is `Plugin::handover`.
  ///
  /// *Errors:* a `Plugin` without `name`, `handover` or `handover_version`, or a handover type
  /// that cannot be written, does not compile (see docs/errors.md).
  template <class Plugin>
  void put([[maybe_unused]] detail::wire::handover_t<Plugin> const& value) {
    if constexpr (detail::wire::checked<Plugin>()) {
      std::string payload;
      detail::wire::write(payload, value);
      store(Plugin::name.view(), static_cast<std::uint32_t>(Plugin::handover_version),
            detail::wire::fingerprint<typename Plugin::handover>, std::move(payload));
    }
  }

  /// `Plugin`'s part, as its `Plugin::handover`: call it in `on(events::restart const&, Master&)`.
  ///
  /// Empty when the old master handed none, or handed one this build cannot read: another
  /// handover_version, the same version with another layout, or bytes that do not read as this
  /// build's type. In those cases a one-line explanation is added to problems().
  template <class Plugin>
  [[nodiscard]] std::optional<detail::wire::handover_t<Plugin>> get() const {
    if constexpr (!detail::wire::checked<Plugin>()) {
      return std::nullopt;
    } else {
      using handover = typename Plugin::handover;
      std::string_view const name = Plugin::name.view();
      constexpr auto version = static_cast<std::uint32_t>(Plugin::handover_version);
      part const* found = find(name);
      if (found == nullptr) return std::nullopt;
      if (found->version != version) {
        note("cluster: restart: the previous master handed plugin \"" + std::string(name) +
             "\" its state in handover version " + std::to_string(found->version) +
             "; this build reads version " + std::to_string(version) +
             ", so the plugin starts without it");
        return std::nullopt;
      }
      if (found->fingerprint != detail::wire::fingerprint<handover>) {
        note("cluster: restart: the previous master handed plugin \"" + std::string(name) +
             "\" its state in handover version " + std::to_string(found->version) +
             " but with another layout than this build's version " + std::to_string(version) +
             " (its handover type changed without a new handover_version), so the plugin starts "
             "without it");
        return std::nullopt;
      }
      handover value{};
      detail::wire::reader in(found->payload);
      in.read(value);
      if (!in.ok() || in.left() != 0) {
        note("cluster: restart: the previous master's state for plugin \"" + std::string(name) +
             "\" (handover version " + std::to_string(version) +
             ") does not read as this build's handover type, so the plugin starts without it");
        return std::nullopt;
      }
      return value;
    }
  }

  /// True when no plugin stored a part (or the predecessor's state was refused).
  [[nodiscard]] bool empty() const noexcept { return parts_.empty(); }

  /// The bytes the old master writes for its successor (the layout is in docs/restart.md).
  [[nodiscard]] std::string serialize() const {
    std::string out;
    out.append(detail::wire::magic);
    detail::wire::put_uint(out, detail::wire::format_version);
    detail::wire::put_uint(out, static_cast<std::uint32_t>(parts_.size()));
    for (part const& p : parts_) {
      detail::wire::write(out, p.name);
      detail::wire::put_uint(out, p.version);
      detail::wire::put_uint(out, p.fingerprint);
      detail::wire::write(out, p.payload);
    }
    return out;
  }

  /// Reads what a predecessor's serialize() wrote.
  ///
  /// Bad input never throws, crashes or reads past `bytes`: garbage, a truncated state, an
  /// unknown format, a duplicate part or trailing bytes give an empty state and one line in
  /// problems(). All or nothing: a state that is not well formed throughout is not believed in
  /// part. Each part's payload is checked later, by get().
  [[nodiscard]] static restart_state parse(std::string_view bytes) {
    namespace wire = detail::wire;
    auto refused = [](std::string const& what) {
      restart_state none;
      none.problems_.push_back("cluster: restart: the previous master's state " + what +
                               ", so this master starts without it");
      return none;
    };
    std::string const end = "ends too early (at byte " + std::to_string(bytes.size()) + ", inside ";
    if (bytes.empty()) return refused("is empty");
    if (bytes.substr(0, wire::magic.size()) != wire::magic.substr(0, bytes.size()))
      return refused("does not start with the marker of a cluster restart state");

    wire::reader in(bytes);
    std::uint32_t format = 0;
    std::uint32_t count = 0;
    in.skip(wire::magic.size());
    in.uint(format);
    if (in.ok() && format != wire::format_version)
      return refused("is in format " + std::to_string(format) + "; this build reads format " +
                     std::to_string(wire::format_version));
    in.uint(count);
    if (!in.ok()) return refused(end + "the header)");

    restart_state state;
    // The count is not trusted with memory: no more parts than the rest could hold.
    state.parts_.reserve(std::min<std::size_t>(count, in.left() / wire::min_part_size));
    for (std::uint32_t i = 0; i != count; ++i) {
      part p;
      in.read(p.name);
      in.uint(p.version);
      in.uint(p.fingerprint);
      in.read(p.payload);
      if (!in.ok())
        return refused(end + "part " + std::to_string(i + 1) + " of " + std::to_string(count) +
                       ")");
      if (state.find(p.name) != nullptr) return refused("holds two parts under one plugin name");
      state.parts_.push_back(std::move(p));
    }
    if (in.left() != 0)
      return refused("has " + std::to_string(in.left()) + " unexpected bytes after its last part");
    return state;
  }

  /// One line per thing refused: the predecessor's state as a whole (by parse) or a plugin's part
  /// (by get). The master prints them on stderr after emitting `events::restart`.
  [[nodiscard]] std::vector<std::string> const& problems() const noexcept { return problems_; }

 private:
  struct part {
    std::string name;
    std::uint32_t version = 0;
    std::uint64_t fingerprint = 0;
    std::string payload;
  };

  [[nodiscard]] part const* find(std::string_view name) const noexcept {
    for (part const& p : parts_)
      if (p.name == name) return &p;
    return nullptr;
  }

  void store(std::string_view name, std::uint32_t version, std::uint64_t fingerprint,
             std::string payload) {
    for (part& p : parts_) {
      if (p.name == name) {
        p = part{std::string(name), version, fingerprint, std::move(payload)};
        return;
      }
    }
    parts_.push_back(part{std::string(name), version, fingerprint, std::move(payload)});
  }

  /// Records a problem once, however often a plugin asks for the part it concerns.
  void note(std::string line) const {
    for (std::string const& known : problems_)
      if (known == line) return;
    problems_.push_back(std::move(line));
  }

  // Parts are few (one per plugin that hands something over): a vector keeps them in the order
  // they were put, which keeps serialize() deterministic, and a linear search is cheapest.
  std::vector<part> parts_;
  // get() is const because plugins see the state through `events::restart`'s const reference;
  // what it refuses is still worth telling, and the master reads it after the event.
  mutable std::vector<std::string> problems_;
};

}  // namespace cluster
