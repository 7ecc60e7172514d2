// expect: cluster: an environment branch has nothing to listen on
// development listens, production does not.
#include <cluster/cluster.hpp>

#include <boost/asio/awaitable.hpp>

struct echo {
  boost::asio::awaitable<void> serve(cluster::stream) { co_return; }
};

int main(int argc, char** argv) {
  return cluster::cluster<echo>()
      .in<"development">()
      .listen(3000)
      .in<"production">()
      .set<"workers">(4)
      .run(argc, argv);
}
