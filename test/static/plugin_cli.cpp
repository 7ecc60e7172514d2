// SPDX-License-Identifier: BSL-1.0
// The good twin of cli_without_pidfiles.cpp and cli_before_pidfiles.cpp: cluster::cli after
// cluster::pidfiles compiles, in a branch too, and the program can run as its own control tool.
#include <cluster/config.hpp>
#include <cluster/plugins/cli.hpp>
#include <cluster/plugins/pidfiles.hpp>

#include <type_traits>

namespace plugin_cli_test {

struct app {};

static_assert(
    std::is_same_v<cluster::cli::requires_plugins, cluster::type_list<cluster::pidfiles>>);

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().use(cluster::pidfiles{}).use(cluster::cli{}).listen(0);
  [[maybe_unused]] auto d = cluster::cluster<app>()
                                .in<"production">()
                                .use(cluster::pidfiles{"/run/app"})
                                .use(cluster::cli{})
                                .listen(80);
}

}  // namespace plugin_cli_test
