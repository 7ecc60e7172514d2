// SPDX-License-Identifier: BSL-1.0
// The operations a builder records, and constexpr facts about a sequence of them.
#pragma once

#include "../core_settings.hpp"
#include "../fixed_string.hpp"

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

namespace cluster {

/// The recorded builder calls. The names are short on purpose: they appear in every diagnostic.
namespace op {

template <fixed_string Key, class Stored>
struct set {
  Stored value;
};

template <class Plugin>
struct use {
  Plugin plugin;
};

template <fixed_string Env>
struct in {};

template <class Where>
struct listen {
  Where where;
};

template <class F>
struct do_ {
  F fn;
};

}  // namespace op

namespace detail {

/// A listener whose host or path was known only at run time: the text is owned here.
/// Its port is checked at start-up, when the resolved configuration is built.
struct owned_endpoint {
  endpoint::kind type = endpoint::kind::tcp;
  long port = 0;
  std::string address;
};

enum class op_kind : unsigned char { set, use, in, listen, do_ };

struct op_info {
  op_kind kind;
  std::string_view name;  // the key of a set, the environment of an in
};

template <class Op>
inline constexpr op_info info_of{};
template <fixed_string Key, class Stored>
inline constexpr op_info info_of<op::set<Key, Stored>>{op_kind::set, Key.view()};
template <class Plugin>
inline constexpr op_info info_of<op::use<Plugin>>{op_kind::use, {}};
template <fixed_string Env>
inline constexpr op_info info_of<op::in<Env>>{op_kind::in, Env.view()};
template <class Where>
inline constexpr op_info info_of<op::listen<Where>>{op_kind::listen, {}};
template <class F>
inline constexpr op_info info_of<op::do_<F>>{op_kind::do_, {}};

inline constexpr std::string_view all_environments = "all";

/// Facts about the operations `Ops...`, computed once per builder type at compile time.
template <class... Ops>
struct op_facts {
  static constexpr std::size_t size = sizeof...(Ops);
  static constexpr std::array<op_info, size> info{info_of<Ops>...};

  /// The environment branch each operation belongs to ("all" before the first in<>).
  static constexpr std::array<std::string_view, size> branch = [] {
    std::array<std::string_view, size> out{};
    std::string_view current = all_environments;
    for (std::size_t i = 0; i != size; ++i) {
      if (info[i].kind == op_kind::in) current = info[i].name;
      out[i] = current;
    }
    return out;
  }();

  /// The branch that the next call will belong to.
  static constexpr std::string_view current = [] {
    std::string_view env = all_environments;
    for (auto const& i : info)
      if (i.kind == op_kind::in) env = i.name;
    return env;
  }();

  /// True when operation `i` applies in environment `env` ("" stands for an unknown one).
  static constexpr bool applies(std::size_t i, std::string_view env) {
    return branch[i] == all_environments || branch[i] == env;
  }

  /// True when `Key` was already set in the branch that is open now.
  static constexpr bool set_in_current_branch(std::string_view key) {
    for (std::size_t i = 0; i != size; ++i)
      if (info[i].kind == op_kind::set && info[i].name == key && branch[i] == current) return true;
    return false;
  }

  static constexpr bool any_listen() {
    for (auto const& i : info)
      if (i.kind == op_kind::listen) return true;
    return false;
  }

  static constexpr bool listens_in(std::string_view env) {
    for (std::size_t i = 0; i != size; ++i)
      if (info[i].kind == op_kind::listen && applies(i, env)) return true;
    return false;
  }

  /// The named environments (not "all"), each once, in order of first appearance, as indices of
  /// the in<> operation that opens them first.
  static constexpr auto environments = [] {
    std::array<std::size_t, size> first{};
    std::size_t count = 0;
    for (std::size_t i = 0; i != size; ++i) {
      if (info[i].kind != op_kind::in || info[i].name == all_environments) continue;
      bool seen = false;
      for (std::size_t j = 0; j != count; ++j) seen = seen || info[first[j]].name == info[i].name;
      if (!seen) first[count++] = i;
    }
    return std::pair{first, count};
  }();

  /// Indices of the operations of `kind` that apply in `env`, and how many there are.
  template <op_kind Kind>
  static constexpr auto applicable(std::string_view env) {
    std::array<std::size_t, size> out{};
    std::size_t count = 0;
    for (std::size_t i = 0; i != size; ++i)
      if (info[i].kind == Kind && applies(i, env)) out[count++] = i;
    return std::pair{out, count};
  }

  /// Index of the operation that gives `key` its value in `env`: the last set in the
  /// environment's own branch, else the last one before any in<> or under in<"all">; `size`
  /// when there is none.
  static constexpr std::size_t winner(std::string_view key, std::string_view env) {
    std::size_t general = size;
    std::size_t specific = size;
    for (std::size_t i = 0; i != size; ++i) {
      if (info[i].kind != op_kind::set || info[i].name != key) continue;
      if (branch[i] == all_environments) general = i;
      if (branch[i] == env && env != all_environments) specific = i;
    }
    return specific != size ? specific : general;
  }
};

/// Where plugin `P` is used: true at each index holding an op::use<P>.
template <class P, class... Ops>
inline constexpr std::array<bool, sizeof...(Ops)> uses_of{std::is_same_v<Ops, op::use<P>>...};

/// The name of the plugin an operation uses ("" for other operations).
template <class Op>
struct op_plugin_name {
  static constexpr std::string_view value{};
};
template <class P>
struct op_plugin_name<op::use<P>> {
  static constexpr std::string_view value = P::name.view();
};

/// Where another plugin type with the name of `P` is used. Names tell plugins apart in
/// diagnostics and in the restart state, which is keyed by them.
template <class P, class... Ops>
inline constexpr std::array<bool, sizeof...(Ops)> same_name_uses{
    (!std::is_same_v<Ops, op::use<P>> && !op_plugin_name<Ops>::value.empty() &&
     op_plugin_name<Ops>::value == P::name.view())...};

/// The single-slot policy a plugin fills (`using policy_slot = Tag;`), or void.
template <class P>
struct slot_of {
  using type = void;
};
template <class P>
requires requires { typename P::policy_slot; }
struct slot_of<P> {
  using type = typename P::policy_slot;
};

template <class Op>
struct op_slot {
  using type = void;
};
template <class P>
struct op_slot<op::use<P>> {
  using type = typename slot_of<P>::type;
};

/// Where a plugin filling slot `Slot` is used.
template <class Slot, class... Ops>
inline constexpr std::array<bool, sizeof...(Ops)> slot_uses{
    std::is_same_v<typename op_slot<Ops>::type, Slot>...};

/// The first of `Plugins` that fills `Slot`, or `Default`.
template <class Slot, class Default, class... Plugins>
struct find_slot {
  using type = Default;
};
template <class Slot, class Default, class P, class... Plugins>
struct find_slot<Slot, Default, P, Plugins...> {
  using type = std::conditional_t<std::is_same_v<typename slot_of<P>::type, Slot>, P,
                                  typename find_slot<Slot, Default, Plugins...>::type>;
};

/// True when one of the marked operations shares an environment with branch `env`: it is in
/// the same branch, or one of the two is for all environments.
template <class... Ops>
constexpr bool marked_in_branch(std::array<bool, sizeof...(Ops)> const& marked,
                                std::string_view env) {
  using facts = op_facts<Ops...>;
  for (std::size_t i = 0; i != sizeof...(Ops); ++i) {
    if (!marked[i]) continue;
    if (facts::branch[i] == env || facts::branch[i] == all_environments || env == all_environments)
      return true;
  }
  return false;
}

template <class P, class... Ops>
constexpr bool used_in_branch(std::string_view env) {
  return marked_in_branch<Ops...>(uses_of<P, Ops...>, env);
}

template <class P, class... Ops>
constexpr bool available_in_branch(std::string_view env) {
  using facts = op_facts<Ops...>;
  for (std::size_t i = 0; i != sizeof...(Ops); ++i)
    if (uses_of<P, Ops...>[i] && (facts::branch[i] == env || facts::branch[i] == all_environments))
      return true;
  return false;
}

}  // namespace detail
}  // namespace cluster
