// expect: alarm_deaths_must_be_at_least_1
// A plugin's own key (example/death_alarm.hpp) is checked like a built-in one: 0 is out of range.
#include "../../example/death_alarm.hpp"

#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .set<"alarm deaths">(0)
                                .use(cluster::pidfiles{})
                                .use(death_alarm{})
                                .listen(0);
}
