// expect: cluster: a plugin is used without a plugin it requires declared before it
// cluster::cli requires cluster::pidfiles, which must be used before it.
#include <cluster/config.hpp>
#include <cluster/plugins/cli.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().use(cluster::cli{}).use(cluster::pidfiles{}).listen(0);
}
