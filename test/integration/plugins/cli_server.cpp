// SPDX-License-Identifier: BSL-1.0
// A cluster using cluster::cli, for integration.plugin.cli: it runs in the working directory
// CLUSTER_TEST_WORKDIR, with its pid files (and so its control socket) in `pids`, or the socket
// CLUSTER_TEST_SOCKET. While a file `broken` exists in the working directory, a worker fails as
// it starts: a new build that cannot serve. Three commands of its own: greet, grow and fail;
// CLUSTER_TEST_GROUP and CLUSTER_TEST_READ_GROUP name the groups cli() lets in.
#include <cluster/cluster.hpp>
#include <cluster/plugins/cli.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/server/http.hpp>

#include "../support/test_config.hpp"
#include "program.hpp"

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace {

/// Fails in every worker started while `broken` exists: a build that cannot start.
struct maybe_broken {
  static constexpr cluster::fixed_string name = "maybe broken";
  void on(cluster::events::worker_start const& /*event*/, cluster::this_worker& /*w*/) const {
    if (::access("broken", F_OK) == 0) throw std::runtime_error("this build cannot start");
  }
};

/// `plugin` with the groups CLUSTER_TEST_GROUP and CLUSTER_TEST_READ_GROUP, when set.
template <class Cli>
Cli with_groups(Cli plugin) {
  if (char const* g = std::getenv("CLUSTER_TEST_GROUP")) plugin = plugin.group(g);
  if (char const* g = std::getenv("CLUSTER_TEST_READ_GROUP")) plugin = plugin.read_only_group(g);
  return plugin;
}

}  // namespace

int main(int argc, char** argv) {
  return cluster::testing::plugin_test_cluster()
      .set<"socket path">(
          cluster::runtime(cluster::testing::text_from_env("CLUSTER_TEST_SOCKET", "cluster.sock")))
      .use(cluster::pidfiles{})
      .use(with_groups(
          cluster::cli{}
              .command<"greet", "NAME TIMES">(
                  "greet NAME, TIMES times",
                  [](cluster::master_api& /*master*/, std::string const& name, unsigned times) {
                    std::string out;
                    for (unsigned i = 0; i < times; ++i)
                      out += (i == 0 ? "hello " : " hello ") + name;
                    return out;
                  })
              .command<"grow", "N">("N more workers",
                                    [](cluster::master_api& master, int n) { master.spawn(n); })
              .command<"fail">("always fails",
                               [](cluster::master_api& /*master*/) -> std::string {
                                 throw std::runtime_error("it fails on purpose");
                               })))
      .use(maybe_broken{})
      .use(cluster::testing::event_trace{})
      .listen(cluster::runtime(cluster::testing::count_from_env("PORT", 0)),
              cluster::runtime(std::string{"127.0.0.1"}))
      .run(argc, argv);
}
