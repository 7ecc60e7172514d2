// SPDX-License-Identifier: BSL-1.0
// One environment -> one flat, fully typed configuration; and run(), which picks the environment.
#pragma once

#include "../events.hpp"
#include "builder.hpp"
#include "concepts.hpp"
#include "core_settings.hpp"
#include "detail/ops.hpp"
#include "settings.hpp"

#include <boost/hana/basic_tuple.hpp>
#include <boost/hana/unpack.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace cluster {

/// A configuration mistake that only shows at start-up: a `cluster::runtime()` value out of range,
/// an environment that leaves nothing to listen on. Its text is one line, ready for stderr.
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

template <std::size_t I, class... Ops>
using op_at = std::tuple_element_t<I, std::tuple<Ops...>>;

template <class Op>
struct plugin_of;
template <class P>
struct plugin_of<op::use<P>> {
  using type = P;
};

template <class Op>
struct environment_of;
template <fixed_string Env>
struct environment_of<op::in<Env>> {
  static constexpr auto value = Env;
};

template <class Op>
struct is_runtime_set : std::false_type {};
template <fixed_string Key, class T>
struct is_runtime_set<op::set<Key, runtime_value<T>>> : std::true_type {};

template <class Op>
struct key_of;
template <fixed_string Key, class Stored>
struct key_of<op::set<Key, Stored>> {
  static constexpr auto value = Key;
};

/// The value of a recorded set<Key>(), as the key's value type.
template <fixed_string Key, class Stored>
constexpr typename setting<Key>::value_type value_of(op::set<Key, Stored> const& op) {
  using value_type = typename setting<Key>::value_type;
  if constexpr (is_runtime_set<op::set<Key, Stored>>::value) {
    return value_traits<value_type>::from(op.value.value);
  } else {
    return op.value;
  }
}

template <class Slot, class Default, class Tuple>
struct slot_in;
template <class Slot, class Default, class... Plugins>
struct slot_in<Slot, Default, boost::hana::basic_tuple<Plugins...>>
    : find_slot<Slot, Default, Plugins...> {};

inline endpoint checked_endpoint(endpoint const& e) { return e; }

inline endpoint checked_endpoint(owned_endpoint const& e) {
  if (e.type == endpoint::kind::tcp && (e.port < 0 || e.port > 65535))
    throw config_error("cluster: .listen(cluster::runtime(" + std::to_string(e.port) +
                       ")) is not a port; use a number from 0 to 65535");
  if (e.type == endpoint::kind::unix_socket && e.address.empty())
    throw config_error(
        "cluster: .listen(cluster::runtime(path)) got an empty path; give a unix "
        "socket path such as /run/app.sock");
  return {e.type, static_cast<std::uint16_t>(e.port), e.address};
}

/// True when the branch `Env` has something to listen on (or needs nothing: an abstract server,
/// a configuration without listeners, the environment that matches no branch).
template <class Server, fixed_string Env, class... Ops>
inline constexpr bool branch_listens =
    abstract_server<typename cluster<Server, Ops...>::server_type> ||
    !op_facts<Ops...>::any_listen() || Env.size() == 0 || op_facts<Ops...>::listens_in(Env.view());

}  // namespace detail

/// The configuration of one environment, flat and fully typed: every setting a typed value,
/// every plugin a member of a tuple, the listeners an array, the `do_` actions in order.
///
/// It is built once at start-up by `run()` (or by `resolve<"env">()` for tools and tests) and
/// holds a reference to the builder, which outlives it. `Env` is the branch; an empty `Env`
/// stands for an environment that matches no branch, which gets the calls for all environments.
template <class Server, fixed_string Env, class... Ops>
class resolved {
  using builder_type = cluster<Server, Ops...>;
  using facts = detail::op_facts<Ops...>;

  static constexpr auto plugin_indices =
      facts::template applicable<detail::op_kind::use>(Env.view());
  static constexpr auto listen_indices =
      facts::template applicable<detail::op_kind::listen>(Env.view());
  static constexpr auto action_indices =
      facts::template applicable<detail::op_kind::do_>(Env.view());
  static constexpr auto set_indices = facts::template applicable<detail::op_kind::set>(Env.view());

  template <std::size_t... I>
  static auto plugin_tuple(std::index_sequence<I...>) -> boost::hana::basic_tuple<
      typename detail::plugin_of<detail::op_at<plugin_indices.first[I], Ops...>>::type...>;

  using plugin_tuple_type =
      decltype(plugin_tuple(std::make_index_sequence<plugin_indices.second>{}));

  static constexpr bool complete = detail::branch_listens<Server, Env, Ops...>;
  static_assert(complete || detail::always_false<Server>,
                "cluster: an environment branch has nothing to listen on; add .listen(...) to "
                "that .in<\"...\">() branch, or before the first .in<>() so that it applies to "
                "every environment");

 public:
  using server_type = typename builder_type::server_type;
  static constexpr bool server_preloaded = builder_type::server_preloaded;
  /// The branch this configuration was resolved for ("" when the environment matched none).
  static constexpr std::string_view branch = Env.view();

  /// Resolves `builder` for the environment named `environment` (the branch `Env`, or any name
  /// when `Env` is empty). Throws `config_error` when a runtime value fails its check, or two
  /// settings contradict each other (`detail::timer_relation_problem`).
  explicit resolved(builder_type const& builder, std::string_view environment = Env.view(),
                    int argc = 0, char** argv = nullptr)
      : builder_(&builder),
        environment_(environment),
        arguments_(argv, argv == nullptr ? 0 : static_cast<std::size_t>(argc)),
        settings_{get<"workers">(),
                  get<"working directory">(),
                  get<"backlog">(),
                  get<"timeout">(),
                  get<"title">(),
                  get<"worker title">(),
                  get<"user">(),
                  get<"group">(),
                  get<"restart threshold">(),
                  get<"restart timeout">(),
                  get<"socket path">(),
                  get<"liveness timeout">(),
                  get<"boot timeout">(),
                  get<"request deadline">(),
                  get<"max requests">(),
                  get<"max age">(),
                  get<"max memory">(),
                  get<"recycle at once">()},
        listeners_(make_listeners(std::make_index_sequence<listen_indices.second>{})),
        plugins_(make_plugins(std::make_index_sequence<plugin_indices.second>{})),
        server_(builder.server_) {
    validate(std::make_index_sequence<set_indices.second>{});
    if (std::string problem = detail::timer_relation_problem(settings_); !problem.empty())
      throw config_error(problem);
  }

  /// The value of setting `Key` in this environment: the branch's own value, else the value for
  /// all environments, else the key's default. Resolved at compile time: no look-up.
  template <fixed_string Key>
  [[nodiscard]] typename detail::value_type_of<Key>::type get() const {
    constexpr std::size_t winner = facts::winner(Key.view(), Env.view());
    if constexpr (!detail::is_known_key<Key>) {
      static_assert(detail::always_false<Server>,
                    "cluster: unknown setting name in get<\"...\">(); the keys are listed in "
                    "docs/configuration.md");
      return {};
    } else if constexpr (winner == sizeof...(Ops)) {
      return detail::default_of<Key>(environment_);
    } else {
      return detail::value_of(boost::hana::at_c<winner>(builder_->ops_));
    }
  }

  /// The built-in settings, resolved.
  [[nodiscard]] core_settings const& settings() const noexcept { return settings_; }
  /// The environment name the program runs in (`CLUSTER_ENV`, default `development`).
  [[nodiscard]] std::string_view environment() const noexcept { return environment_; }
  /// Where to listen, in the order of the `listen` calls.
  [[nodiscard]] std::span<endpoint const> listeners() const noexcept { return listeners_; }
  /// The command line given to `run()`.
  [[nodiscard]] std::span<char* const> arguments() const noexcept { return arguments_; }

  /// The plugins of this environment, in the order they were used.
  [[nodiscard]] plugin_tuple_type& plugins() noexcept { return plugins_; }
  [[nodiscard]] plugin_tuple_type const& plugins() const noexcept { return plugins_; }

  /// True when plugin type `P` is used in this environment.
  template <class P>
  static constexpr bool has_plugin = [] {
    for (std::size_t i = 0; i != plugin_indices.second; ++i)
      if (detail::uses_of<P, Ops...>[plugin_indices.first[i]]) return true;
    return false;
  }();

  /// The instance of plugin `P` used in this environment.
  template <class P>
  [[nodiscard]] P& plugin() noexcept {
    if constexpr (!has_plugin<P>) {
      static_assert(detail::always_false<P>,
                    "cluster: plugin<P>() names a plugin this environment does not use");
      return *static_cast<P*>(nullptr);
    } else {
      constexpr std::size_t at = [] {
        for (std::size_t i = 0; i != plugin_indices.second; ++i)
          if (detail::uses_of<P, Ops...>[plugin_indices.first[i]]) return i;
        return std::size_t{0};
      }();
      return boost::hana::at_c<at>(plugins_);
    }
  }

  /// The plugin filling the single-slot policy `Slot` in this environment (a plugin with
  /// `using policy_slot = Slot;`), or `Default` when none does.
  template <class Slot, class Default>
  using slot_type = typename detail::slot_in<Slot, Default, plugin_tuple_type>::type;

  /// The server object built in the master (only when the cluster was given one): this
  /// configuration's own copy of it, made in the master at start-up, before any fork, so each
  /// worker inherits it copy-on-write. A copy, because the builder is read-only (it may be a
  /// `const` object) while the workers use the server as a mutable object.
  [[nodiscard]] server_type& server() noexcept requires server_preloaded { return server_.server; }
  [[nodiscard]] server_type const& server() const noexcept requires server_preloaded {
    return server_.server;
  }

  /// True when a plugin of this environment handles `Event` delivered with `Target` (the master,
  /// or `this_worker` for the events delivered in a worker).
  template <class Event, class Target>
  static constexpr bool handles_event = []<class... Ps>(boost::hana::basic_tuple<Ps...>*) {
    return (handles<Ps, Event, Target> || ...);
  }(static_cast<plugin_tuple_type*>(nullptr));

  /// Sends `ev` to every plugin that handles it, in order. Resolved at compile time.
  template <class Event, class Master>
  void emit(Event const& ev, Master& master) {
    boost::hana::unpack(plugins_, [&](auto&... ps) { dispatch(ev, master, ps...); });
  }

  /// Runs the `do_` actions of this environment, in order.
  template <class Master>
  void run_actions(Master& master) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (invoke_action(boost::hana::at_c<action_indices.first[I]>(builder_->ops_).fn, master), ...);
    }
    (std::make_index_sequence<action_indices.second>{});
  }

 private:
  template <class F, class Master>
  static void invoke_action(F const& fn, Master& master) {
    if constexpr (std::is_invocable_v<F const&, Master&>) {
      fn(master);
    } else if constexpr (std::is_invocable_v<F const&>) {
      fn();
    } else {
      static_assert(detail::always_false<F>,
                    "cluster: .do_(fn) needs a function that takes no argument or the master, "
                    "e.g. .do_([] { ... }) or .do_([](auto& master) { ... })");
    }
  }

  template <std::size_t... I>
  std::array<endpoint, sizeof...(I)> make_listeners(std::index_sequence<I...>) const {
    return {detail::checked_endpoint(
        boost::hana::at_c<listen_indices.first[I]>(builder_->ops_).where)...};
  }

  template <std::size_t... I>
  plugin_tuple_type make_plugins(std::index_sequence<I...>) const {
    return plugin_tuple_type{boost::hana::at_c<plugin_indices.first[I]>(builder_->ops_).plugin...};
  }

  template <class Op>
  static void validate_one(Op const& op) {
    if constexpr (detail::is_runtime_set<Op>::value) {
      std::string problem = detail::runtime_problem<detail::key_of<Op>::value>(op.value.value);
      if (!problem.empty()) throw config_error(problem);
    }
  }

  template <std::size_t... I>
  void validate(std::index_sequence<I...>) const {
    (validate_one(boost::hana::at_c<set_indices.first[I]>(builder_->ops_)), ...);
  }

  builder_type const* builder_;
  std::string_view environment_;
  std::span<char* const> arguments_;
  core_settings settings_;
  std::array<endpoint, listen_indices.second> listeners_;
  [[no_unique_address]] plugin_tuple_type plugins_;
  // Empty unless the server was given as an object (see server()).
  [[no_unique_address]] detail::server_slot<Server> server_;
};

//=== run ===//

namespace detail {

/// Starts the master of a resolved configuration; defined by <cluster/master.hpp>, so that the
/// configuration headers stay free of the process code until a program runs a cluster.
template <class Config>
struct master_runner {
  static constexpr bool available = false;
};

template <class... Ops>
std::string known_environments() {
  using facts = op_facts<Ops...>;
  std::string names;
  for (std::size_t i = 0; i != facts::environments.second; ++i) {
    if (i != 0) names += ", ";
    names += facts::info[facts::environments.first[i]].name;
  }
  return names.empty() ? std::string{"none (no .in<>() branch)"} : names;
}

}  // namespace detail

template <class Server, class... Ops>
int cluster<Server, Ops...>::run(int argc, char** argv) const {
  constexpr bool listens = abstract_server<server_type> || facts::any_listen();
  static_assert(listens || detail::always_false<Server>,
                "cluster: this server listens on nothing; add .listen(port), "
                ".listen(port, \"host\") or .listen(\"/path/to.sock\") before the first .in<>() "
                "or in each environment's branch");

  // The environment is read once; from here on the configuration is one static type.
  char const* const from_env = std::getenv("CLUSTER_ENV");
  std::string_view const environment =
      from_env != nullptr && *from_env != '\0' ? std::string_view{from_env} : "development";

  auto launch = [&]<fixed_string Env>() -> int {
    using config_type = resolved<Server, Env, Ops...>;
    static_assert(detail::master_runner<config_type>::available,
                  "cluster: run() starts the master, which this file does not include; add "
                  "#include <cluster/cluster.hpp>");
    config_type config{*this, environment, argc, argv};
    // A branch with nothing to listen on is reported by resolved's own sentence; no master is
    // built on it, so that the sentence stays the only error.
    if constexpr (detail::master_runner<config_type>::available &&
                  detail::branch_listens<Server, Env, Ops...>) {
      return detail::master_runner<config_type>::run(config);
    } else {
      return 1;
    }
  };

  try {
    int status = 0;
    bool const matched = [&]<std::size_t... I>(std::index_sequence<I...>) {
      return ((environment == facts::info[facts::environments.first[I]].name &&
               (status = launch.template operator()<detail::environment_of<
                             detail::op_at<facts::environments.first[I], Ops...>>::value>(),
                true)) ||
              ...);
    }
    (std::make_index_sequence<facts::environments.second>{});
    if (matched) return status;

    if constexpr (abstract_server<server_type> || facts::listens_in("")) {
      return launch.template operator()<fixed_string("")>();
    } else {
      throw config_error("cluster: environment \"" + std::string{environment} +
                         "\" (CLUSTER_ENV) matches no branch and leaves nothing to listen on; "
                         "known environments: " +
                         detail::known_environments<Ops...>());
    }
  } catch (config_error const& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 1;
  } catch (std::exception const& error) {
    // Whatever else escapes start-up or the master is still one line and a failed status, not
    // std::terminate's abort.
    std::string_view const what = error.what();
    std::fprintf(stderr, "%s%.*s\n",
                 what.starts_with("cluster: ") ? "" : "cluster: ", static_cast<int>(what.size()),
                 what.data());
    return 1;
  }
}

}  // namespace cluster
