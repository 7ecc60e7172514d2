// Example: one program, several environments: CLUSTER_ENV picks a branch of the configuration
//   build/example/envs        (CLUSTER_ENV=production WEB_CONCURRENCY=4 build/example/envs)
#include <cluster/cluster.hpp>
#include <cluster/server/http.hpp>

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

/// The environment the program runs in, as the master resolved it (workers inherit it).
std::string_view environment() {
  char const* name = std::getenv("CLUSTER_ENV");
  return name != nullptr && *name != '\0' ? name : "development";
}

/// Answers every request with the environment and the worker that served it.
struct greeter {
  cluster::http::response handle(cluster::http::request const& request) {
    cluster::http::response response{cluster::http::status::ok, request.version()};
    response.set(cluster::http::field::content_type, "text/plain");
    response.body() = "Hello from " + std::string{environment()} + " (worker " +
                      std::to_string(cluster::worker_id().value_or(0)) + ", pid " +
                      std::to_string(::getpid()) + ")\n";
    return response;
  }
};

/// A plugin: says which configuration the master runs once the sockets are bound.
struct banner {
  static constexpr cluster::fixed_string name = "banner";
  template <class Master>
  void on(cluster::events::listening const&, Master& master) {
    std::fprintf(stderr, "envs: %.*s, %u workers, timeout %lld ms\n",
                 static_cast<int>(master.environment().size()), master.environment().data(),
                 master.settings().workers,
                 static_cast<long long>(master.settings().timeout.count()));
  }
};

/// A whole number from the environment variable `name`, or `fallback` when it is unset.
long from_env(char const* name, long fallback) {
  char const* text = std::getenv(name);
  long value = fallback;
  if (text != nullptr && *text != '\0')
    std::from_chars(text, text + std::string_view{text}.size(), value);
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    std::fprintf(stderr, "Usage: %s\n  CLUSTER_ENV=production WEB_CONCURRENCY=4 PORT=8080 %s\n",
                 argv[0], argv[0]);
    return 2;
  }
  // Calls before the first in<>() apply to every environment; each branch adds or overrides.
  // An environment that is not listed here (CLUSTER_ENV=staging) gets only those calls, and as
  // they listen on nothing, start-up stops and names the environments there are. (Not left to
  // clang-format, which would flatten the indentation that shows what each branch holds.)
  // clang-format off
  return cluster::cluster<greeter>()
      .set<"timeout">(5000)
      .use(banner{})
      .in<"development">()
        .set<"workers">(1)
        .set<"restart threshold">(1000)
        .listen(cluster::runtime(from_env("PORT", 3000)), "127.0.0.1")
      .in<"production">()
        .set<"workers">(cluster::runtime(from_env("WEB_CONCURRENCY", 4)))
        .set<"timeout">(30000)
        .listen(cluster::runtime(from_env("PORT", 8080)))
      .run(argc, argv);
  // clang-format on
}
