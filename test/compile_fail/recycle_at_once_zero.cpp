// expect: recycle_at_once_must_be_at_least_1
// Recycling with no replacement ever allowed under way. Its good twin, 2, is in control.cpp.
#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().set<"max requests">(1000).set<"recycle at once">(0).listen(0);
}
