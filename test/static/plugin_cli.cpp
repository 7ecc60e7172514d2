// SPDX-License-Identifier: BSL-1.0
// The good twins of the cli compile-fail cases: cluster::cli after cluster::pidfiles compiles (in
// a branch too), and commands of the program's own with every accepted name, argument type and
// handler form; the stats plugin reached as an optional one.
#include <cluster/config.hpp>
#include <cluster/plugins/cli.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/plugins/repl.hpp>
#include <cluster/plugins/stats.hpp>

#include <string>
#include <type_traits>

namespace plugin_cli_test {

struct app {};

static_assert(
    std::is_same_v<cluster::cli::requires_plugins, cluster::type_list<cluster::pidfiles>>);

// The stats plugin is optional to cli and repl: they reach it (its `stats` command) when it is
// used, and compile without it; a plugin that lists neither requires nor optional does not.
static_assert(cluster::detail::may_reach<cluster::cli, cluster::stats>);
static_assert(cluster::detail::may_reach<cluster::repl, cluster::stats>);
static_assert(!cluster::detail::may_reach<cluster::repl, cluster::pidfiles>);
static_assert(!cluster::master_archetype::uses<cluster::stats>);

std::string status_of(cluster::master_api& /*master*/, std::string const& what) { return what; }

// cli_command_builtin_name.cpp, cli_command_twice.cpp, cli_command_bad_name.cpp: names of 1 to 32
// lowercase letters, digits and dashes, none a built-in's, each once.
// cli_command_arguments_mismatch.cpp, cli_command_argument_type.cpp,
// cli_command_without_master.cpp, cli_command_generic_handler.cpp: the handler takes master_api&
// and the declared arguments, of the accepted types, and returns text or nothing.
[[maybe_unused]] auto const commands =
    cluster::cli{}
        .command<"a">("one letter", [](cluster::master_api&) { return "a"; })
        .command<"status-of", "WHAT">("a function", &status_of)
        .command<"x-1", "N M COUNT RATIO TEXT">(
            "every argument type",
            [](cluster::master_api&, int, unsigned, long long, double, std::string const&) {})
        .command<"abcdefghijklmnopqrstuvwxyz-01234">("32 characters", [](cluster::master_api& m) {
          return std::to_string(m.worker_count());
        });
static_assert(std::is_base_of_v<cluster::cli_base, std::remove_cvref_t<decltype(commands)>>);

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().use(cluster::pidfiles{}).use(cluster::cli{}).listen(0);
  [[maybe_unused]] auto d = cluster::cluster<app>()
                                .in<"production">()
                                .use(cluster::pidfiles{"/run/app"})
                                .use(cluster::cli{})
                                .listen(80);
  // The table the socket and the client use: every handler form instantiated.
  [[maybe_unused]] auto const table = commands.table();
  [[maybe_unused]] auto e =
      cluster::cluster<app>().use(cluster::pidfiles{}).use(commands).listen(0);
}

}  // namespace plugin_cli_test
