// SPDX-License-Identifier: BSL-1.0
// The good twin of http_server_without_http_header.cpp: an HTTP server with its header.
#include <cluster/cluster.hpp>
#include <cluster/server/http.hpp>

namespace run_http_test {

struct hello {
  cluster::http::response handle(cluster::http::request const& request) {
    cluster::http::response response{cluster::http::status::ok, request.version()};
    response.body() = "hello";
    return response;
  }
};

int serves_http(int argc, char** argv) {
  return cluster::cluster<hello>().listen(0).run(argc, argv);
}

}  // namespace run_http_test
