// SPDX-License-Identifier: BSL-1.0
// The good twins of the compile-fail cases about listen(): ports, hosts, paths, abstract servers.
#include <cluster/config.hpp>

#include <string>

namespace listen_test {

struct app {};
struct jobs {
  void work() {}
};

// port_out_of_range.cpp, listen_not_a_port.cpp: the extremes of the port range.
void ports() {
  [[maybe_unused]] auto c = cluster::cluster<app>().listen(0).listen(65535);
  static_assert(cluster::detail::port_number(65535).value == 65535);
  static_assert(cluster::detail::port_number(0).value == 0);
}

// listen_host_not_text.cpp
void hosts() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .listen(3000, "127.0.0.1")
                                .listen(3001, "::1")
                                .listen(3002, "localhost");
}

// listen_empty_path.cpp
void unix_socket() { [[maybe_unused]] auto c = cluster::cluster<app>().listen("/run/app.sock"); }

// listen_runtime_port_not_a_number.cpp: a whole number, a host and a path known at run time.
void known_at_run_time(int port, std::string const& host, std::string const& path) {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .listen(cluster::runtime(port))
                                .listen(cluster::runtime(port), cluster::runtime(host))
                                .listen(cluster::runtime(path));
}

// listen_runtime_port_host_not_text.cpp: a runtime port with a literal host, and a constant port
// with a runtime host.
void mixed(int port, std::string const& host) {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .listen(cluster::runtime(port), "127.0.0.1")
                                .listen(cluster::runtime(port), "::1")
                                .listen(8080, cluster::runtime(host));
}

// listen_on_abstract_server.cpp: an abstract cluster is configured without listen().
void abstract_cluster() { [[maybe_unused]] auto c = cluster::cluster<jobs>().set<"workers">(2); }

}  // namespace listen_test
