// SPDX-License-Identifier: BSL-1.0
// cluster<Server, Ops...>: each set / use / in / do_ / listen call returns a new type recording it.
#pragma once

#include "../crash_loop.hpp"
#include "concepts.hpp"
#include "detail/ops.hpp"
#include "fixed_string.hpp"
#include "hooks.hpp"
#include "settings.hpp"

#include <boost/hana/basic_tuple.hpp>
#include <boost/hana/unpack.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace cluster {

template <class Server, fixed_string Env, class... Ops>
class resolved;

namespace detail {

/// A server object built by the user in the master and inherited by the workers through fork.
template <class Server>
struct preloaded {
  using type = Server;
};

template <class Server>
struct server_of {
  using type = Server;
  static constexpr bool is_preloaded = false;
};
template <class Server>
struct server_of<preloaded<Server>> {
  using type = Server;
  static constexpr bool is_preloaded = true;
};

/// Holds the preloaded server object; empty when the server is given as a type.
template <class Server>
struct server_slot {};
template <class Server>
struct server_slot<preloaded<Server>> {
  Server server;
};

template <class Plugin, class Required>
constexpr bool plugin_requires_declared_before(bool met) {
  return met;
}

template <class Plugin, class... Required, class... Ops>
constexpr void check_requirements(type_list<Required...> /*needs*/, type_list<Ops...> /*ops*/) {
  // One assertion per requirement; the condition names both plugins in the compiler's output.
  (
      [] {
        constexpr bool met = available_in_branch<Required, Ops...>(op_facts<Ops...>::current);
        static_assert(plugin_requires_declared_before<Plugin, Required>(met),
                      "cluster: a plugin is used without a plugin it requires declared before it "
                      "in the same environment; add .use() of the required plugin before this "
                      "one (the two are named below; see 'Writing a policy' in "
                      "docs/configuration.md)");
      }(),
      ...);
}

/// The port of `.listen(port)`: converting to it checks the range at compile time.
struct port_number {
  std::uint16_t value;

  template <class Arg>
  consteval port_number(Arg const& arg)  // NOLINT(google-explicit-constructor)
      : value{} {
    if constexpr (!plain_integer<Arg>) {
      static_assert(always_false<Arg>,
                    "cluster: .listen() takes a port number, e.g. .listen(3000) or "
                    ".listen(3000, \"127.0.0.1\"), or a unix socket path, e.g. "
                    ".listen(\"/run/app.sock\")");
    } else {
      if (arg < 0 || arg > 65535) diagnostic::port_must_be_between_0_and_65535();
      value = static_cast<std::uint16_t>(arg);
    }
  }
};

/// A host or a unix socket path given as a literal.
struct constant_text_arg {
  std::string_view value;

  template <class Arg>
  consteval constant_text_arg(Arg const& arg) {  // NOLINT(google-explicit-constructor)
    if constexpr (!constant_text<Arg>) {
      static_assert(always_false<Arg>,
                    "cluster: .listen() takes a host name or address as text, e.g. "
                    ".listen(3000, \"::1\"); for text known only at run time use "
                    "cluster::runtime(text)");
    } else {
      value = std::string_view{arg};
    }
  }
};

}  // namespace detail

/// The configuration of a cluster, as a type: `cluster<Server>()` followed by calls to `set`,
/// `use`, `in`, `do_` and `listen`, each returning a new `cluster` type that records the call,
/// and finally `run(argc, argv)`.
///
/// `Server` given as a type is constructed only inside workers. `cluster(server_object)` builds
/// the server in the master instead; the workers inherit it.
///
/// Example:
/// ```
/// return cluster::cluster<hello>()
///     .in<"development">().set<"workers">(1).listen(3000)
///     .in<"production">().set<"workers">(4).listen(80)
///     .run(argc, argv);
/// ```
template <class Server, class... Ops>
class cluster {
  template <class, class...>
  friend class cluster;
  template <class, fixed_string, class...>
  friend class resolved;

  using facts = detail::op_facts<Ops...>;
  using slot = detail::server_slot<Server>;

  [[no_unique_address]] slot server_;
  boost::hana::basic_tuple<Ops...> ops_;

  cluster(slot server, boost::hana::basic_tuple<Ops...> ops)
      : server_(std::move(server)), ops_(std::move(ops)) {}

  template <class Op>
  [[nodiscard]] cluster<Server, Ops..., Op> append(Op op) const {
    return boost::hana::unpack(ops_, [&](Ops const&... ops) {
      return cluster<Server, Ops..., Op>{
          server_, boost::hana::basic_tuple<Ops..., Op>{ops..., std::move(op)}};
    });
  }

 public:
  using server_type = typename detail::server_of<Server>::type;
  static constexpr bool server_preloaded = detail::server_of<Server>::is_preloaded;

  cluster() requires(!server_preloaded) = default;

  /// Builds the cluster around a server object made in the master (see the class comment).
  explicit cluster(server_type server) requires server_preloaded : server_{std::move(server)} {}

  /// Sets the setting `Key` to a constant; the type and the value are checked here, at compile
  /// time. Setting the same key twice in one branch is an error; a value in an environment's
  /// branch overrides the one given for all environments.
  template <fixed_string Key>
  [[nodiscard]] auto set(value_for<Key> value) const {
    if constexpr (!detail::is_known_key<Key>) {
      return *this;  // value_for already reported the unknown key
    } else {
      if constexpr (facts::set_in_current_branch(Key.view())) {
        static_assert(detail::always_false<Server>,
                      "cluster: this setting is already set in the same .in<>() branch; remove "
                      "one of the two .set<>() calls (a value in an environment's branch "
                      "overrides the one given for all environments)");
        return *this;
      } else {
        return append(op::set<Key, typename setting<Key>::value_type>{value.value});
      }
    }
  }

  /// Sets the setting `Key` to a value known only at run time (`cluster::runtime(v)`); it is
  /// validated at start-up with the same rules as a constant.
  template <fixed_string Key, class T>
  [[nodiscard]] auto set(runtime_value<T> value) const {
    if constexpr (!detail::is_known_key<Key>) {
      static_assert(detail::always_false<T>,
                    "cluster: unknown setting name in .set<\"...\">(); the keys are listed in "
                    "docs/configuration.md, and your own keys are declared by specializing "
                    "cluster::setting<\"name\">");
      return *this;
    } else if constexpr (!detail::value_traits<typename setting<Key>::value_type>::template accepts<
                             T>) {
      (void)detail::value_traits<typename setting<Key>::value_type>::from(value.value);
      return *this;
    } else {
      if constexpr (facts::set_in_current_branch(Key.view())) {
        static_assert(detail::always_false<Server>,
                      "cluster: this setting is already set in the same .in<>() branch; remove "
                      "one of the two .set<>() calls (a value in an environment's branch "
                      "overrides the one given for all environments)");
        return *this;
      } else {
        return append(op::set<Key, runtime_value<T>>{std::move(value)});
      }
    }
  }

  /// Adds a plugin. Plugins are notified in the order they are used; a plugin's required
  /// plugins must be used before it, in the same branch or for all environments.
  template <class Plugin>
  [[nodiscard]] auto use(Plugin p) const {
    if constexpr (!::cluster::plugin<Plugin>) {
      static_assert(detail::always_false<Plugin>,
                    "cluster: .use() takes a plugin: a copyable class with a member "
                    "'static constexpr cluster::fixed_string name'; see 'Writing a policy' in "
                    "docs/configuration.md");
      return *this;
    } else if constexpr (detail::used_in_branch<Plugin, Ops...>(facts::current)) {
      static_assert(detail::always_false<Plugin>,
                    "cluster: this plugin is already used in this environment (or for all "
                    "environments); use each plugin once per environment");
      return *this;
    } else if constexpr (detail::marked_in_branch<Ops...>(detail::same_name_uses<Plugin, Ops...>,
                                                          facts::current)) {
      static_assert(detail::always_false<Plugin>,
                    "cluster: another plugin with the same name is already used in this "
                    "environment; plugins are told apart by their 'name' (the restart state is "
                    "keyed by it): give each plugin type a name of its own");
      return *this;
    } else if constexpr (!std::is_void_v<typename detail::slot_of<Plugin>::type> &&
                         detail::marked_in_branch<Ops...>(
                             detail::slot_uses<typename detail::slot_of<Plugin>::type, Ops...>,
                             facts::current)) {
      static_assert(detail::always_false<Plugin>,
                    "cluster: another policy for the same slot (e.g. the signal policy) is "
                    "already used in this environment; keep one of the two .use() calls");
      return *this;
    } else if constexpr (constexpr auto problem = detail::hook_problem_of<Plugin>();
                         problem == detail::hook_problem::mutable_event) {
      static_assert(detail::always_false<Plugin>,
                    "cluster: this plugin's on() takes an event by non-const reference, so it is "
                    "never called; take it as `cluster::events::X const&`");
      return *this;
    } else if constexpr (problem == detail::hook_problem::master_event_in_worker) {
      static_assert(detail::always_false<Plugin>,
                    "cluster: this plugin's on() takes a master event with cluster::this_worker&, "
                    "so it is never called; master events come with the master: "
                    "`template <class Master> void on(cluster::events::X const&, Master&)`");
      return *this;
    } else if constexpr (problem == detail::hook_problem::worker_event_in_master) {
      static_assert(detail::always_false<Plugin>,
                    "cluster: this plugin's on() takes a worker event with the master, so it is "
                    "never called; worker events come with the worker: "
                    "`void on(cluster::events::X const&, cluster::this_worker&)`");
      return *this;
    } else if constexpr (problem == detail::hook_problem::matches_nothing) {
      static_assert(detail::always_false<Plugin>,
                    "cluster: this plugin's on() overloads match no event, so none is ever called; "
                    "hooks are `on(cluster::events::X const&, Master&)` for master events and "
                    "`on(cluster::events::X const&, cluster::this_worker&)` for worker events");
      return *this;
    } else {
      // A crash-loop policy's values, one sentence per mistake (see crash_loop.hpp).
      if constexpr (std::is_same_v<typename detail::slot_of<Plugin>::type, crash_loop_slot>)
        detail::check_crash_loop<Plugin>();
      detail::check_requirements<Plugin>(typename detail::required_plugins_of<Plugin>::type{},
                                         type_list<Ops...>{});
      return append(op::use<Plugin>{std::move(p)});
    }
  }

  /// `.use()` needs a plugin object; this overload only explains that.
  template <class Missing = void>
  [[nodiscard]] auto use() const {
    static_assert(detail::always_false<Missing>,
                  "cluster: .use() needs a plugin object, e.g. .use(cluster::logger())");
    return *this;
  }

  /// Opens the branch of environment `Env`: the calls that follow apply only when the program
  /// runs in that environment. `in<"all">()` returns to calls that apply everywhere.
  template <fixed_string Env>
  [[nodiscard]] auto in() const {
    static_assert(Env.size() != 0,
                  "cluster: .in<\"\">() needs an environment name, e.g. .in<\"production\">()");
    return append(op::in<Env>{});
  }

  /// Runs `fn` in the master at start-up, in the order of the calls, when the branch applies.
  /// `fn` takes no argument or the master (`[](auto& master) { ... }`).
  template <class F>
  [[nodiscard]] auto do_(F fn) const {
    return append(op::do_<F>{std::move(fn)});
  }

  /// Listens on a TCP port of every interface, or of `host` (a name, an IPv4 or IPv6 address).
  /// Port 0 lets the system choose.
  [[nodiscard]] auto listen(detail::port_number port, detail::constant_text_arg host = "") const {
    check_listen();
    return append(op::listen<endpoint>{{endpoint::kind::tcp, port.value, host.value}});
  }

  /// Listens on a unix socket at `path`.
  template <std::size_t N>
  [[nodiscard]] auto listen(char const (&path)[N]) const {
    check_listen();
    static_assert(N > 1,
                  "cluster: .listen(\"\") needs a unix socket path, e.g. "
                  ".listen(\"/run/app.sock\")");
    return append(op::listen<endpoint>{{endpoint::kind::unix_socket, 0, std::string_view{path}}});
  }

  /// Listens on a port known only at run time (`cluster::runtime(port)`), of every interface or
  /// of `host`; checked at start-up.
  template <class Port, class Host = std::string>
  [[nodiscard]] auto listen(runtime_value<Port> port, runtime_value<Host> host = {}) const {
    check_listen();
    static_assert(detail::plain_integer<Port>,
                  "cluster: .listen(cluster::runtime(port)) takes a whole number");
    return append(op::listen<detail::owned_endpoint>{
        {endpoint::kind::tcp, static_cast<long>(port.value), std::string{host.value}}});
  }

  /// Listens on a port known only at run time of `host` given as a literal, the usual form with
  /// `PORT` from the environment: `.listen(cluster::runtime(port), "127.0.0.1")`.
  /// The endpoint is resolved at start-up either way: the host is copied.
  template <class Port, class Host>
  [[nodiscard]] auto listen(runtime_value<Port> port, Host const& host) const {
    check_listen();
    static_assert(detail::plain_integer<Port>,
                  "cluster: .listen(cluster::runtime(port)) takes a whole number");
    static_assert(detail::constant_text<Host>,
                  "cluster: .listen(cluster::runtime(port), host) takes the host as a literal, "
                  "e.g. \"127.0.0.1\", or as cluster::runtime(text) when it is known only at run "
                  "time");
    if constexpr (detail::constant_text<Host>) {
      return append(
          op::listen<detail::owned_endpoint>{{endpoint::kind::tcp, static_cast<long>(port.value),
                                              std::string{std::string_view{host}}}});
    } else {
      return *this;
    }
  }

  /// Listens on a constant port of a host known only at run time:
  /// `.listen(8080, cluster::runtime(host))`.
  template <class Host>
  [[nodiscard]] auto listen(detail::port_number port, runtime_value<Host> host) const {
    check_listen();
    return append(op::listen<detail::owned_endpoint>{
        {endpoint::kind::tcp, static_cast<long>(port.value), std::string{host.value}}});
  }

  /// Listens on a unix socket at a path known only at run time.
  [[nodiscard]] auto listen(runtime_value<std::string> path) const {
    check_listen();
    return append(op::listen<detail::owned_endpoint>{
        {endpoint::kind::unix_socket, 0, std::move(path.value)}});
  }

  /// The environment branches this configuration names, in order of first appearance.
  static constexpr std::size_t environment_count = facts::environments.second;

  /// The configuration of the branch `Env`, resolved as `run()` would resolve it when the program
  /// runs in `environment` (for tools and tests). It refers to this builder, so the builder must
  /// outlive it: call it on a named configuration, not on a temporary.
  template <fixed_string Env>
  [[nodiscard]] resolved<Server, Env, Ops...> resolve(
      std::string_view environment = Env.view()) const& {
    return resolved<Server, Env, Ops...>{*this, environment};
  }
  template <fixed_string Env>
  void resolve(std::string_view environment = Env.view()) const&& = delete;

  /// Resolves the environment from `CLUSTER_ENV` (default `development`), builds the master for
  /// that environment's configuration and runs it. Returns the process exit status.
  int run(int argc, char** argv) const;

 private:
  static constexpr void check_listen() {
    if constexpr (abstract_server<server_type>)
      static_assert(detail::always_false<server_type>,
                    "cluster: this server has a work() member, so it is an abstract cluster and "
                    "listens on nothing; remove .listen(), or give the server a handle() or "
                    "serve() member instead of work()");
  }
};

template <class Server>
cluster(Server) -> cluster<detail::preloaded<Server>>;

}  // namespace cluster
