// Example: HTTP "Hello World" on every core, with a /slow?ms=N page to watch graceful stops
//   build/example/hello        (PORT=8080 WEB_CONCURRENCY=4 build/example/hello; kill -QUIT
//   <master>)
#include <cluster/cluster.hpp>
#include <cluster/plugins/debug.hpp>
#include <cluster/server/http.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

/// The server: built in each worker, never in the master.
struct hello {
  cluster::http::response handle(cluster::http::request const& request) {
    std::string_view const target = request.target();
    if (target.starts_with("/slow")) {
      // A deliberately blocking handler: it holds this worker, the others keep serving.
      int ms = 1000;
      if (auto at = target.find("ms="); at != std::string_view::npos)
        std::from_chars(target.data() + at + 3, target.data() + target.size(), ms);
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    } else if (target != "/") {
      cluster::http::response missing{cluster::http::status::not_found, request.version()};
      missing.body() = "Not Found\n";
      return missing;
    }
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
  if (argc > 1) {
    std::fprintf(stderr, "Usage: %s\n  PORT=8080 WEB_CONCURRENCY=4 %s\n", argv[0], argv[0]);
    return 2;
  }
  // PORT and WEB_CONCURRENCY are the platform conventions (Heroku, Dokku and friends). They are
  // known only at run time, hence cluster::runtime: checked at start-up, before any fork.
  unsigned const cpus = std::thread::hardware_concurrency();
  return cluster::cluster<hello>()
      .set<"workers">(cluster::runtime(from_env("WEB_CONCURRENCY", cpus ? cpus : 1)))
      .set<"timeout">(10000)
      .listen(cluster::runtime(from_env("PORT", 3000)))
      // In development (the default CLUSTER_ENV), every event of the master on stderr.
      .in<"development">()
      .use(cluster::debug{})
      .run(argc, argv);
}
