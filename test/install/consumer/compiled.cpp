// SPDX-License-Identifier: BSL-1.0
// A consumer of cluster::compiled: an HTTP cluster whose Asio, Beast and cluster code comes from
// the compiled library. run() is instantiated for its environment and called where it returns at
// once (an environment with no branch, and nothing to listen on), so the program links all of the
// master and the workers without starting a process.
#include <cluster/cluster.hpp>
#include <cluster/server/http.hpp>
#include <cluster/text.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/status.hpp>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {
struct app {
  cluster::http::response handle(cluster::http::request const& req) {
    return {cluster::http::status::ok, req.version()};
  }
};
}  // namespace

int main(int argc, char** argv) {
  auto fail = [](char const* what) {
    std::fprintf(stderr, "consumer_compiled: %s\n", what);
    return 1;
  };
  // Functions that the separately compiled Asio, Beast and cluster define out of line.
  boost::asio::io_context io;
  io.poll();
  if (boost::beast::http::obsolete_reason(cluster::http::status::not_found) !=
      std::string_view("Not Found"))
    return fail("Beast's status text is wrong");
  if (cluster::text::format("{}:{}", "127.0.0.1", 8080) != "127.0.0.1:8080")
    return fail("cluster's text formatting is wrong");

  ::setenv("CLUSTER_ENV", "consumer-check", 1);
  int const status = cluster::cluster<app>()
                         .in<"production">()
                         .set<"workers">(2)
                         .listen(8080, "127.0.0.1")
                         .run(argc, argv);
  if (status != 1) return fail("run() did not refuse an environment with nothing to listen on");
  std::puts("consumer_compiled: ok");
  return 0;
}
