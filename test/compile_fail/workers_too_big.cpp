// expect: value_does_not_fit_in_unsigned
// A constant that does not fit the setting's type: "workers" is an unsigned, and 2^32 + 1 used to
// wrap around to 1 worker.
#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"workers">(4294967297LL).listen(0);
}
