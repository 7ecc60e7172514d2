// expect: cluster: .listen(cluster::runtime(port), host) takes the host as a literal
// With a port known at run time, a host in a variable must be marked as known at run time too.
#include <cluster/config.hpp>

#include <string>

struct app {};

void configure(int port, std::string const& host) {
  [[maybe_unused]] auto c = cluster::cluster<app>().listen(cluster::runtime(port), host);
}
