// expect: cluster: this server has a work() member, so it is an abstract cluster
// A server with work() runs jobs in each worker and listens on nothing.
#include <cluster/config.hpp>

struct jobs {
  void work() {}
};

void configure() { [[maybe_unused]] auto c = cluster::cluster<jobs>().listen(80); }
