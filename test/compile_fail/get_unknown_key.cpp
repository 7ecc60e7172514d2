// expect: cluster: unknown setting name in get<
// Reading a key nobody declared from a resolved configuration.
#include <cluster/config.hpp>

struct app {};

void inspect() {
  auto const builder = cluster::cluster<app>().listen(0);
  auto const config = builder.resolve<"production">();
  [[maybe_unused]] auto n = config.get<"workerz">();
}
