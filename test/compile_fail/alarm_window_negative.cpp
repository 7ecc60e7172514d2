// expect: alarm_window_must_be_longer_than_0_ms
// A plugin's own duration key: its check rejects an empty window.
#include "../../example/death_alarm.hpp"

#include <cluster/config.hpp>

#include <chrono>

struct app {};

void configure() {
  using namespace std::chrono_literals;
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .set<"alarm window">(0s)
                                .use(cluster::pidfiles{})
                                .use(death_alarm{})
                                .listen(0);
}
