// SPDX-License-Identifier: BSL-1.0
// A cluster using cluster::pidfiles, for integration.plugin.pidfiles: it runs in the working
// directory CLUSTER_TEST_WORKDIR with the default directory `pids`, or with CLUSTER_TEST_PIDS.
#include <cluster/cluster.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/server/http.hpp>

#include "../support/test_config.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

/// Answers every request with 200 and the pid of the worker that served it.
struct app {
  cluster::http::response handle(cluster::http::request const& request) {
    cluster::http::response response{cluster::http::status::ok, request.version()};
    response.body() = "pid=" + std::to_string(::getpid()) + "\n";
    return response;
  }
};

unsigned from_env(char const* name, unsigned fallback) {
  char const* text = std::getenv(name);
  unsigned value = fallback;
  if (text != nullptr && *text != '\0')
    std::from_chars(text, text + std::string_view(text).size(), value);
  return value;
}

std::string text_from_env(char const* name, char const* fallback) {
  char const* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::string(text) : std::string(fallback);
}

}  // namespace

int main(int argc, char** argv) {
  char const* pids = std::getenv("CLUSTER_TEST_PIDS");
  return cluster::cluster<app>()
      .set<"workers">(cluster::runtime(from_env("WEB_CONCURRENCY", 2)))
      .set<"timeout">(5000)
      .set<"restart threshold">(0)
      .set<"working directory">(cluster::runtime(text_from_env("CLUSTER_TEST_WORKDIR", "/tmp")))
      .use(pids != nullptr ? cluster::pidfiles{pids} : cluster::pidfiles{})
      // After pidfiles: a refused start prints its one line and nothing else.
      .use(cluster::testing::event_trace{})
      .listen(cluster::runtime(from_env("PORT", 0)), cluster::runtime(std::string{"127.0.0.1"}))
      .run(argc, argv);
}
