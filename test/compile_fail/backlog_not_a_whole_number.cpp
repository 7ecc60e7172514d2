// expect: (511); not a string, a bool or a floating-point value
// "backlog" is an int: a floating-point value is the wrong kind of value.
#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"backlog">(511.0).listen(0);
}
