// SPDX-License-Identifier: BSL-1.0
// The good twins of the compile-fail cases about environment branches and plugins.
#include <cluster/config.hpp>

#include <string_view>
#include <type_traits>

namespace branches_and_plugins_test {

struct app {};
struct logger_like {
  static constexpr cluster::fixed_string name = "logger";
};
struct pidfiles_like {
  static constexpr cluster::fixed_string name = "pidfiles";
};
struct cli_like {
  static constexpr cluster::fixed_string name = "cli";
  using requires_plugins = cluster::type_list<pidfiles_like>;
};
struct signal_slot {};
struct default_signals_like {
  static constexpr cluster::fixed_string name = "signals";
  using policy_slot = signal_slot;
};
struct container_signals_like {
  static constexpr cluster::fixed_string name = "container signals";
  using policy_slot = signal_slot;
};

template <cluster::fixed_string Env, class Server, class... Ops>
auto resolve_in(cluster::cluster<Server, Ops...> const& builder) {
  return cluster::resolved<Server, Env, Ops...>{builder};
}

// key_set_twice.cpp: one value for all environments, overridden in one branch.
void override_in_a_branch() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().set<"workers">(2).in<"production">().set<"workers">(8).listen(80);
}

// key_set_twice_across_sections.cpp: a reopened branch sets other keys.
void reopened_branch() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .in<"production">()
                                .set<"workers">(4)
                                .in<"development">()
                                .set<"workers">(1)
                                .in<"production">()
                                .set<"backlog">(511)
                                .listen(80);
  static_assert(decltype(c)::environment_count == 2);
}

// plugin_used_twice.cpp, plugin_used_in_all_and_branch.cpp: once per environment.
void plugin_once_per_environment() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .in<"development">()
                                .use(logger_like{})
                                .in<"production">()
                                .use(logger_like{})
                                .listen(80);
  [[maybe_unused]] auto d =
      cluster::cluster<app>().use(logger_like{}).in<"production">().listen(80);
}

// plugin_name_used_twice.cpp: two plugin types may share a name in different branches.
struct access_log {
  static constexpr cluster::fixed_string name = "log";
};
struct error_log {
  static constexpr cluster::fixed_string name = "log";
};
void one_name_per_environment() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .in<"development">()
                                .use(access_log{})
                                .in<"production">()
                                .use(error_log{})
                                .listen(80);
}

// use_not_a_plugin.cpp, use_class_without_name.cpp
void a_plugin() { [[maybe_unused]] auto c = cluster::cluster<app>().use(logger_like{}).listen(80); }

// requirement_missing.cpp, requirement_declared_after.cpp, requirement_in_other_branch.cpp
void requirement_before() {
  [[maybe_unused]] auto c = cluster::cluster<app>().use(pidfiles_like{}).use(cli_like{}).listen(80);
  [[maybe_unused]] auto d =
      cluster::cluster<app>().use(pidfiles_like{}).in<"production">().use(cli_like{}).listen(80);
  [[maybe_unused]] auto e =
      cluster::cluster<app>().in<"production">().use(pidfiles_like{}).use(cli_like{}).listen(80);
}

// empty_environment_name.cpp
void named_environment() {
  [[maybe_unused]] auto c = cluster::cluster<app>().in<"production">().listen(80).in<"all">();
}

// plugin_not_used_here.cpp: asking the environment that uses the plugin.
void plugin_of_the_environment() {
  auto const builder =
      cluster::cluster<app>().in<"development">().use(logger_like{}).in<"all">().listen(0);
  auto development = resolve_in<"development">(builder);
  static_assert(decltype(development)::has_plugin<logger_like>);
  [[maybe_unused]] logger_like& logger = development.plugin<logger_like>();
  static_assert(!decltype(resolve_in<"production">(builder))::has_plugin<logger_like>);
}

// policy_slot_used_twice.cpp: one policy per slot in each environment, the default elsewhere.
void one_policy_per_slot() {
  auto const builder = cluster::cluster<app>()
                           .in<"development">()
                           .use(default_signals_like{})
                           .in<"production">()
                           .use(container_signals_like{})
                           .in<"all">()
                           .listen(80);
  using production = decltype(resolve_in<"production">(builder));
  using staging = decltype(resolve_in<"staging">(builder));
  static_assert(std::is_same_v<production::slot_type<signal_slot, default_signals_like>,
                               container_signals_like>);
  static_assert(
      std::is_same_v<staging::slot_type<signal_slot, default_signals_like>, default_signals_like>);
}

// Reading a resolved setting.
void read_setting() {
  auto const builder = cluster::cluster<app>().in<"production">().set<"workers">(4).listen(0);
  [[maybe_unused]] unsigned workers = resolve_in<"production">(builder).get<"workers">();
}

}  // namespace branches_and_plugins_test
