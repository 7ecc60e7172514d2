// expect: value_does_not_fit_in_unsigned
// A plugin's own key (example/death_alarm.hpp) is an unsigned: a value beyond it does not fit.
#include "../../example/death_alarm.hpp"

#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .set<"alarm deaths">(4294967297LL)
                                .use(cluster::pidfiles{})
                                .use(death_alarm{})
                                .listen(0);
}
