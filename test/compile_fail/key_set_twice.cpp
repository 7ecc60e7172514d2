// expect: cluster: this setting is already set in the same
// The same key twice in one branch: which one was meant?
#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().in<"production">().set<"workers">(4).set<"workers">(8).listen(80);
}
