// expect: cluster: this setting takes a duration
// A plugin's own key declared as std::chrono::milliseconds takes a number or a duration, not text.
#include "../../example/death_alarm.hpp"

#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .set<"alarm window">("10 s")
                                .use(cluster::pidfiles{})
                                .use(death_alarm{})
                                .listen(0);
}
