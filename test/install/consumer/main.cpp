// SPDX-License-Identifier: BSL-1.0
// A consumer of the package: configures a cluster and checks its production configuration.
#include <cluster/config.hpp>

#include <cstdio>

namespace {
struct app {};
}  // namespace

int main() {
  auto const config =
      cluster::cluster<app>().set<"workers">(2).in<"production">().set<"workers">(8).listen(8080);
  auto const production = config.resolve<"production">();
  if (production.settings().workers != 8 || production.listeners().size() != 1 ||
      production.listeners()[0].port != 8080) {
    std::fputs("consumer: the production configuration is not what was set\n", stderr);
    return 1;
  }
  std::puts("consumer: ok");
  return 0;
}
