// expect: value_does_not_fit_in_int
// A constant that does not fit the setting's type: "backlog" is an int, and 2^32 + 1 used to wrap
// around to a backlog of 1.
#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"backlog">(4294967297LL).listen(0);
}
