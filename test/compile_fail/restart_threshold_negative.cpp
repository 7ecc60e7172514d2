// expect: restart_threshold_must_not_be_negative
// A constant out of range: a negative restart threshold.
#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"restart threshold">(-5000).listen(0);
}
