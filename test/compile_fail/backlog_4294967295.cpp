// expect: value_does_not_fit_in_int
// 2^32 - 1 does not fit in an int either: it wrapped to -1, and was reported as
// "must be at least 1".
#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"backlog">(4294967295LL).listen(0);
}
