// Example: a plugin of your own (example/death_alarm.hpp) with its own settings, next to pidfiles
//   mkdir -p pids && build/example/custom_plugin     (build/example/custom_plugin /srv/app)
#include "death_alarm.hpp"

#include <cluster/cluster.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/server/http.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace std::chrono_literals;

/// The server: built in each worker.
struct hello {
  cluster::http::response handle(cluster::http::request const& request) {
    cluster::http::response response{cluster::http::status::ok, request.version()};
    response.set(cluster::http::field::content_type, "text/plain");
    response.body() = "Hello World\n";
    return response;
  }
};

/// A whole number from the environment, or `fallback`.
static unsigned from_env(char const* name, unsigned fallback) {
  char const* text = std::getenv(name);
  unsigned value = fallback;
  if (text && *text) std::from_chars(text, text + std::string_view(text).size(), value);
  return value;
}

int main(int argc, char** argv) {
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    std::fprintf(stderr,
                 "Usage: %s [directory]\n  mkdir -p /tmp/app/pids && PORT=8080 %s /tmp/app\n"
                 "The directory (default: the current one) holds pids/ and alarm.log.\n",
                 argv[0], argv[0]);
    return 2;
  }
  std::string const directory = argc == 2 ? argv[1] : ".";
  return cluster::cluster<hello>()
      .set<"workers">(cluster::runtime(from_env("WEB_CONCURRENCY", 2)))
      // Relative paths (pids/, alarm.log) are relative to the working directory.
      .set<"working directory">(cluster::runtime(directory))
      // The plugin's own keys, checked at compile time: .set<"alarm deaths">(0) does not build.
      .set<"alarm deaths">(2)
      .set<"alarm window">(10s)
      // death_alarm requires pidfiles: used the other way round, the program does not compile.
      .use(cluster::pidfiles{})
      .use(death_alarm{})
      .listen(cluster::runtime(from_env("PORT", 3000)))
      .run(argc, argv);
}
