// expect: (4); not a string, a bool or a floating-point value
// "workers" is a count: a string is the wrong kind of value.
#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"workers">("4").listen(0);
}
