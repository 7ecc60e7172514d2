// expect: cluster: a plugin is used without a plugin it requires
// cluster::cli finds its control socket and the pid files through cluster::pidfiles.
#include <cluster/config.hpp>
#include <cluster/plugins/cli.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().use(cluster::cli{}).listen(0);
}
