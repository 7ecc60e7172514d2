// SPDX-License-Identifier: BSL-1.0
// Compile-time benchmark: an HTTP service as a user writes it, in one translation unit: the
// bundled plugins, two environments and settings for all of them. The handler is bench::answer,
// which beast_baseline.cpp serves by hand. realistic_main.cpp has the same main() (the run script
// checks it) with the server in another translation unit.
#include "handler.hpp"

#include <cluster/cluster.hpp>
#include <cluster/plugins/debug.hpp>
#include <cluster/plugins/logger.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/plugins/stats.hpp>
#include <cluster/server/http.hpp>

#include <chrono>

struct hello {
  cluster::http::response handle(cluster::http::request const& req) { return bench::answer(req); }
};

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  return cluster::cluster<hello>()
      .use(cluster::logger{"/var/log/hello"})
      .use(cluster::pidfiles{"/run/hello"})
      .use(cluster::stats{.connections = true, .requests = true, .metrics = "127.0.0.1:9100"})
      .in<"development">()
      .set<"workers">(2)
      .use(cluster::debug{})
      .listen(3000, "127.0.0.1")
      .in<"production">()
      .set<"workers">(8)
      .set<"user">("www-data")
      .set<"group">("www-data")
      .listen(80)
      .in<"all">()
      .set<"timeout">(30s)
      .set<"title">("hello master")
      .set<"worker title">("hello worker {n}")
      .run(argc, argv);
}
