// SPDX-License-Identifier: BSL-1.0
// The benchmarked program: the shared handler served by cluster (PORT, WEB_CONCURRENCY).
#include "handler.hpp"

#include <cluster/cluster.hpp>
#include <cluster/server/http.hpp>

#include <chrono>
#include <cstdlib>

struct hello {
  cluster::http::response handle(cluster::http::request const& req) { return bench::hello(req); }
};

int main(int argc, char** argv) {
  char const* port = std::getenv("PORT");
  char const* workers = std::getenv("WEB_CONCURRENCY");
  // BENCH_LIVENESS_MS=0 turns the liveness check (and the request tracking it reads) off.
  char const* liveness = std::getenv("BENCH_LIVENESS_MS");
  return cluster::cluster<hello>()
      .set<"workers">(cluster::runtime(workers ? std::atoi(workers) : 2))
      .set<"liveness timeout">(
          cluster::runtime(std::chrono::milliseconds(liveness ? std::atoi(liveness) : 30000)))
      .listen(cluster::runtime(port ? std::atoi(port) : 0),
              cluster::runtime(std::string("127.0.0.1")))
      .run(argc, argv);
}
