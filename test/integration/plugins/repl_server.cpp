// SPDX-License-Identifier: BSL-1.0
// A cluster using cluster::repl, for integration.plugin.repl: it runs in the working directory
// CLUSTER_TEST_WORKDIR, with its pid files and control socket in `pids`. CLUSTER_TEST_REPL says
// where the console listens: a unix socket path, `tcp:HOST` (a free port on HOST) or
// `tcp-remote:HOST` (the same, with allow_remote()). One command of its own, shared with cli:
// `greet NAME`; and the stats plugin, whose report the `stats` command prints.
#include <cluster/cluster.hpp>
#include <cluster/plugins/cli.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/plugins/repl.hpp>
#include <cluster/plugins/stats.hpp>
#include <cluster/server/http.hpp>

#include "../support/test_config.hpp"
#include "program.hpp"

#include <string>

namespace {

/// The console CLUSTER_TEST_REPL names.
cluster::repl console() {
  std::string const where = cluster::testing::text_from_env("CLUSTER_TEST_REPL", "console.sock");
  if (where.starts_with("tcp:")) return cluster::repl::tcp(0, where.substr(4));
  if (where.starts_with("tcp-remote:"))
    return cluster::repl::tcp(0, where.substr(11)).allow_remote();
  return cluster::repl{where};
}

}  // namespace

int main(int argc, char** argv) {
  auto const control = cluster::cli{}.command<"greet", "NAME">(
      "greet NAME",
      [](cluster::master_api& /*master*/, std::string const& name) { return "hello " + name; });
  return cluster::testing::plugin_test_cluster()
      .use(cluster::pidfiles{})
      .use(control)
      .use(console().commands(control))
      .use(cluster::stats{.connections = true, .requests = true})
      .use(cluster::testing::event_trace{})
      .listen(cluster::runtime(cluster::testing::count_from_env("PORT", 0)),
              cluster::runtime(std::string{"127.0.0.1"}))
      .run(argc, argv);
}
