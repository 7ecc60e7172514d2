// SPDX-License-Identifier: BSL-1.0
// realistic.cpp with its server in another translation unit (handler_tu.cpp): this file sees only
// the declaration in hello_server.hpp, so editing the handler does not recompile it. main() is
// realistic.cpp's, character for character (the run script checks it).
#include "hello_server.hpp"

#include <cluster/cluster.hpp>
#include <cluster/plugins/debug.hpp>
#include <cluster/plugins/logger.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/plugins/stats.hpp>
#include <cluster/server/http.hpp>

#include <chrono>

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
