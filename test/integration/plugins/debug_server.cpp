// SPDX-License-Identifier: BSL-1.0
// A cluster using cluster::debug, for integration.plugin.debug: CLUSTER_TEST_COLORS picks the mode.
#include <cluster/cluster.hpp>
#include <cluster/plugins/debug.hpp>
#include <cluster/server/http.hpp>

#include "program.hpp"

#include <cstdlib>
#include <string_view>

namespace {

/// The cluster with the given debug plugin; PORT and WEB_CONCURRENCY as the harness sets them.
template <class Plugin>
int run(Plugin plugin, int argc, char** argv) {
  return cluster::cluster<cluster::testing::pid_server>()
      .set<"workers">(cluster::runtime(cluster::testing::count_from_env("WEB_CONCURRENCY", 2)))
      .set<"timeout">(5000)
      .use(plugin)
      .listen(cluster::runtime(cluster::testing::count_from_env("PORT", 0)),
              cluster::runtime(std::string{"127.0.0.1"}))
      .run(argc, argv);
}

}  // namespace

int main(int argc, char** argv) {
  char const* mode = std::getenv("CLUSTER_TEST_COLORS");
  std::string_view const colors = mode != nullptr ? mode : "";
  if (colors == "always") return run(cluster::debug{cluster::colors::always}, argc, argv);
  if (colors == "never") return run(cluster::debug{cluster::colors::never}, argc, argv);
  return run(cluster::debug{}, argc, argv);
}
