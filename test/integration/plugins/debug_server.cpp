// SPDX-License-Identifier: BSL-1.0
// A cluster using cluster::debug, for integration.plugin.debug: CLUSTER_TEST_COLORS picks the mode.
#include <cluster/cluster.hpp>
#include <cluster/plugins/debug.hpp>
#include <cluster/server/http.hpp>

#include <charconv>
#include <cstdlib>
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

/// The cluster with the given debug plugin; PORT and WEB_CONCURRENCY as the harness sets them.
template <class Plugin>
int run(Plugin plugin, int argc, char** argv) {
  return cluster::cluster<app>()
      .set<"workers">(cluster::runtime(from_env("WEB_CONCURRENCY", 2)))
      .set<"timeout">(5000)
      .use(plugin)
      .listen(cluster::runtime(from_env("PORT", 0)), cluster::runtime(std::string{"127.0.0.1"}))
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
