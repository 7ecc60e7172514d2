// SPDX-License-Identifier: BSL-1.0
// A cluster using cluster::reload, for integration.plugin.reload: it runs in CLUSTER_TEST_WORKDIR
// (the tests copy it there and start it as ./server, so that a new build can be renamed over
// it), watches `config` there and its own executable, and logs into `logs` inside the same
// directory (the plugin must leave the logger's writes out), and CLUSTER_TEST_RELOAD_EXTRA when
// set. Built twice: the second build
// (CLUSTER_TEST_BUILD=2) answers `build=2`, so a test sees which build serves.
#include <cluster/cluster.hpp>
#include <cluster/plugins/logger.hpp>
#include <cluster/plugins/reload.hpp>
#include <cluster/server/http.hpp>

#include "../support/test_config.hpp"
#include "program.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#ifndef CLUSTER_TEST_BUILD
#define CLUSTER_TEST_BUILD 1
#endif

namespace {

/// Answers `build=N pid=P worker=W`.
struct build_server {
  cluster::http::response handle(cluster::http::request const& request) {
    cluster::http::response response{cluster::http::status::ok, request.version()};
    response.set(cluster::http::field::content_type, "text/plain");
    response.body() = "build=" + std::to_string(CLUSTER_TEST_BUILD) +
                      " pid=" + std::to_string(::getpid()) +
                      " worker=" + std::to_string(cluster::worker_id().value_or(999)) + "\n";
    return response;
  }
};

/// `.` and `config`, and CLUSTER_TEST_RELOAD_EXTRA if set.
std::vector<std::string> watched() {
  std::vector<std::string> paths{".", "config"};
  if (char const* extra = std::getenv("CLUSTER_TEST_RELOAD_EXTRA")) paths.emplace_back(extra);
  return paths;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  return cluster::cluster<build_server>()
      .set<"workers">(cluster::runtime(cluster::testing::count_from_env("WEB_CONCURRENCY", 2)))
      .set<"timeout">(5000)
      .set<"restart threshold">(0)
      .set<"working directory">(
          cluster::runtime(cluster::testing::text_from_env("CLUSTER_TEST_WORKDIR", "/tmp")))
      .use(cluster::logger{"logs"})
      .use(cluster::reload{watched()}.quiet(200ms).minimum_interval(500ms))
      .use(cluster::testing::event_trace{})
      .listen(cluster::runtime(cluster::testing::count_from_env("PORT", 0)),
              cluster::runtime(std::string{"127.0.0.1"}))
      .run(argc, argv);
}
