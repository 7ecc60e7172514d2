// SPDX-License-Identifier: BSL-1.0
// Concepts of the configuration: setting keys, plugins, servers; and the type_list they use.
#pragma once

#include "fixed_string.hpp"
#include "settings.hpp"

#include <concepts>
#include <string_view>
#include <type_traits>

namespace cluster {

/// A compile-time list of types, e.g. a plugin's `using requires_plugins = type_list<...>`.
template <class... Types>
struct type_list {};

/// A key declared with a `setting<Key>` descriptor.
template <fixed_string Key>
concept setting_key = detail::is_known_key<Key>;

/// A plugin (policy): a copyable type with `static constexpr fixed_string name`. Its hooks are
/// optional `on(event, master)` overloads, detected one by one.
template <class P>
concept plugin = std::is_class_v<P> && std::copy_constructible<P> && requires {
  { P::name.view() } -> std::convertible_to<std::string_view>;
};

/// A server that listens on nothing: each worker runs its `work` member (a job consumer).
template <class S>
concept abstract_server = std::is_class_v<S> && requires {
  &S::work;
};

namespace detail {

template <class P>
struct required_plugins_of {
  using type = type_list<>;
};
template <class P>
requires requires { typename P::requires_plugins; }
struct required_plugins_of<P> {
  using type = typename P::requires_plugins;
};

/// The plugins `P` uses when the configuration has them (`using optional_plugins = ...;`).
template <class P>
struct optional_plugins_of {
  using type = type_list<>;
};
template <class P>
requires requires { typename P::optional_plugins; }
struct optional_plugins_of<P> {
  using type = typename P::optional_plugins;
};

}  // namespace detail

}  // namespace cluster
