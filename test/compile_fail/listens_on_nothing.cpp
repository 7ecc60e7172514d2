// expect: cluster: this server listens on nothing
// A server that is not abstract needs somewhere to listen.
#include <cluster/cluster.hpp>

#include <boost/asio/awaitable.hpp>

struct echo {
  boost::asio::awaitable<void> serve(cluster::stream) { co_return; }
};

int main(int argc, char** argv) {
  return cluster::cluster<echo>().set<"workers">(2).run(argc, argv);
}
