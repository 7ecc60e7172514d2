// SPDX-License-Identifier: BSL-1.0
// The benchmarked program: the runtime benchmark's handler served by cluster, with the plugin
// chosen at build time (BENCH_PLUGIN: none, stats or logger), on PORT with WEB_CONCURRENCY workers.
#include "../runtime/handler.hpp"

#include <cluster/cluster.hpp>
#include <cluster/server/http.hpp>

#define BENCH_NONE 0
#define BENCH_STATS 1
#define BENCH_LOGGER 2

#if BENCH_PLUGIN == BENCH_STATS
#include <cluster/plugins/stats.hpp>
#elif BENCH_PLUGIN == BENCH_LOGGER
#include <cluster/plugins/logger.hpp>
#endif

#include <cstdlib>
#include <string>

struct hello {
  cluster::http::response handle(cluster::http::request const& req) { return bench::hello(req); }
};

int main(int argc, char** argv) {
  char const* port = std::getenv("PORT");
  char const* workers = std::getenv("WEB_CONCURRENCY");
  auto base = cluster::cluster<hello>()
                  .set<"workers">(cluster::runtime(workers ? std::atoi(workers) : 2))
                  .listen(cluster::runtime(port ? std::atoi(port) : 0),
                          cluster::runtime(std::string("127.0.0.1")));
#if BENCH_PLUGIN == BENCH_STATS
  return base.use(cluster::stats{.connections = true, .requests = true}).run(argc, argv);
#elif BENCH_PLUGIN == BENCH_LOGGER
  // BENCH_LOG_DIR: an existing directory for the log files.
  char const* dir = std::getenv("BENCH_LOG_DIR");
  return base.use(cluster::logger{dir ? dir : "logs"}).run(argc, argv);
#else
  return base.run(argc, argv);
#endif
}
