// SPDX-License-Identifier: BSL-1.0
// A cluster using cluster::cli with the stats plugin's HTTP endpoint, for
// integration.plugin.admin: it runs in CLUSTER_TEST_WORKDIR with its pid files in `pids`, serves
// /metrics and /status on 127.0.0.1 (STATS_METRICS, default any free port) and, when
// CLUSTER_TEST_TOKEN_FILE names a file, runs commands sent with its token. One command of its
// own: `greet NAME`.
#include <cluster/cluster.hpp>
#include <cluster/plugins/cli.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/plugins/stats.hpp>
#include <cluster/server/http.hpp>

#include "../support/test_config.hpp"
#include "program.hpp"

#include <string>

int main(int argc, char** argv) {
  auto cli = cluster::cli{}.command<"greet", "NAME">(
      "greet NAME",
      [](cluster::master_api& /*master*/, std::string const& name) { return "hello " + name; });
  std::string const token = cluster::testing::text_from_env("CLUSTER_TEST_TOKEN_FILE", "");
  std::string metrics = cluster::testing::text_from_env("STATS_METRICS", "127.0.0.1:0");
  if (metrics == "off") metrics.clear();
  return cluster::testing::plugin_test_cluster()
      .use(cluster::pidfiles{})
      .use(cluster::stats{.metrics = metrics})
      .use(token.empty() ? cli : cli.http_token_file(token))
      .use(cluster::testing::event_trace{})
      .listen(cluster::runtime(cluster::testing::count_from_env("PORT", 0)),
              cluster::runtime(std::string{"127.0.0.1"}))
      .run(argc, argv);
}
