// SPDX-License-Identifier: BSL-1.0
// The configuration's concepts and the constant defaults of the built-in keys, checked statically.
#include <cluster/config.hpp>

#include <chrono>
#include <string_view>
#include <type_traits>

namespace concepts_test {

using namespace std::chrono_literals;

struct app {};
struct jobs {
  void work() {}
};
struct pidfiles_like {
  static constexpr cluster::fixed_string name = "pidfiles";
};
struct cli_like {
  static constexpr cluster::fixed_string name = "cli";
  using requires_plugins = cluster::type_list<pidfiles_like>;
};
struct almost_a_plugin {
  char const* name = "almost";
};
struct not_copyable {
  static constexpr cluster::fixed_string name = "not copyable";
  not_copyable() = default;
  not_copyable(not_copyable const&) = delete;
};
struct starts {
  static constexpr cluster::fixed_string name = "starts";
  template <class Master>
  void on(cluster::events::start const&, Master&) {}
};
struct fake_master {};

//=== fixed_string ===//

static_assert(cluster::fixed_string("workers").size() == 7);
static_assert(cluster::fixed_string("workers").view() == "workers");
static_assert(cluster::fixed_string("") == cluster::fixed_string(""));
static_assert(!(cluster::fixed_string("all") == cluster::fixed_string("al")));

//=== setting_key ===//

static_assert(cluster::setting_key<"workers">);
static_assert(cluster::setting_key<"working directory">);
static_assert(cluster::setting_key<"backlog">);
static_assert(cluster::setting_key<"timeout">);
static_assert(cluster::setting_key<"title">);
static_assert(cluster::setting_key<"worker title">);
static_assert(cluster::setting_key<"user">);
static_assert(cluster::setting_key<"group">);
static_assert(cluster::setting_key<"restart threshold">);
static_assert(cluster::setting_key<"restart timeout">);
static_assert(cluster::setting_key<"socket path">);
static_assert(!cluster::setting_key<"workerz">);
static_assert(!cluster::setting_key<"Workers">);
static_assert(!cluster::setting_key<"">);

}  // namespace concepts_test

// A key of the user's own is a key like the built-in ones once its descriptor is declared.
template <>
struct cluster::setting<"concepts test greeting"> {
  using value_type = std::string_view;
  static constexpr char const* expects = "a greeting";
  static constexpr value_type default_value = "hello";
};

namespace concepts_test {

static_assert(cluster::setting_key<"concepts test greeting">);
static_assert(cluster::detail::default_of<"concepts test greeting">("production") == "hello");

//=== plugin ===//

static_assert(!cluster::plugin<int>);
static_assert(!cluster::plugin<app>);
static_assert(!cluster::plugin<almost_a_plugin>);
static_assert(!cluster::plugin<not_copyable>);
static_assert(cluster::plugin<pidfiles_like>);
static_assert(cluster::plugin<cli_like>);
static_assert(cluster::plugin<starts>);

static_assert(std::is_same_v<cluster::detail::required_plugins_of<pidfiles_like>::type,
                             cluster::type_list<>>);
static_assert(std::is_same_v<cluster::detail::required_plugins_of<cli_like>::type,
                             cluster::type_list<pidfiles_like>>);

// A plugin handles exactly the events it has an on() for.
static_assert(cluster::handles<starts, cluster::events::start, fake_master>);
static_assert(!cluster::handles<starts, cluster::events::close, fake_master>);
static_assert(!cluster::handles<pidfiles_like, cluster::events::start, fake_master>);

//=== abstract_server ===//

static_assert(cluster::abstract_server<jobs>);
static_assert(!cluster::abstract_server<app>);
static_assert(!cluster::abstract_server<int>);

//=== checks of the built-in keys ===//

static_assert(cluster::setting<"workers">::check(1));
static_assert(!cluster::setting<"workers">::check(0));
static_assert(cluster::setting<"backlog">::check(1));
static_assert(!cluster::setting<"backlog">::check(0));
static_assert(cluster::setting<"timeout">::check(0ms));
static_assert(!cluster::setting<"timeout">::check(-1ms));
static_assert(!cluster::setting<"title">::check(""));
static_assert(cluster::setting<"user">::check(cluster::identity{"www-data", -1}));
static_assert(cluster::setting<"user">::check(cluster::identity{{}, 0}));
static_assert(!cluster::setting<"group">::check(cluster::identity{{}, -2}));

//=== the defaults that are constants (docs/configuration.md, Settings) ===//

static_assert(cluster::detail::default_of<"backlog">("production") == 128);
static_assert(cluster::detail::default_of<"timeout">("production") == 60000ms);
static_assert(cluster::detail::default_of<"title">("production") == "cluster master");
static_assert(cluster::detail::default_of<"worker title">("production") == "cluster worker {n}");
static_assert(cluster::detail::default_of<"socket path">("production") == "cluster.sock");
static_assert(!cluster::detail::default_of<"user">("production").given());
static_assert(!cluster::detail::default_of<"group">("production").given());
static_assert(cluster::detail::default_of<"restart threshold">("development") == 5000ms);
static_assert(cluster::detail::default_of<"restart threshold">("production") == 60000ms);
static_assert(cluster::detail::default_of<"restart threshold">("staging") == 60000ms);
static_assert(cluster::detail::default_of<"restart timeout">("development") == 5000ms);
static_assert(cluster::detail::default_of<"restart timeout">("production") == 60000ms);

// The value types the keys declare.
static_assert(std::is_same_v<cluster::setting<"workers">::value_type, unsigned>);
static_assert(std::is_same_v<cluster::setting<"backlog">::value_type, int>);
static_assert(std::is_same_v<cluster::setting<"timeout">::value_type, std::chrono::milliseconds>);
static_assert(std::is_same_v<cluster::setting<"title">::value_type, std::string_view>);
static_assert(std::is_same_v<cluster::setting<"user">::value_type, cluster::identity>);

}  // namespace concepts_test
