// SPDX-License-Identifier: BSL-1.0
// A cluster using cluster::pidfiles, for integration.plugin.pidfiles: it runs in the working
// directory CLUSTER_TEST_WORKDIR with the default directory `pids`, or with CLUSTER_TEST_PIDS.
#include <cluster/cluster.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/server/http.hpp>

#include "../support/test_config.hpp"
#include "program.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
  char const* pids = std::getenv("CLUSTER_TEST_PIDS");
  return cluster::testing::plugin_test_cluster()
      .use(pids != nullptr ? cluster::pidfiles{pids} : cluster::pidfiles{})
      // After pidfiles: a refused start prints its one line and nothing else.
      .use(cluster::testing::event_trace{})
      .listen(cluster::runtime(cluster::testing::count_from_env("PORT", 0)),
              cluster::runtime(std::string{"127.0.0.1"}))
      .run(argc, argv);
}
