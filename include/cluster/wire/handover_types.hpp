// SPDX-License-Identifier: BSL-1.0
// Which types a plugin may hand to a new master, why the others are refused, and the fewest bytes
// each takes on the wire. Private to <cluster/restart_state.hpp>, which plugins include.
#pragma once

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

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

}  // namespace cluster::detail::wire
