// expect: duration_must_be_a_whole_number_of_milliseconds
// 500us is not whole milliseconds; truncated to 0 ms it would have been reported as too short.
#include "../../example/death_alarm.hpp"

#include <cluster/config.hpp>

#include <chrono>

struct app {};

void configure() {
  using namespace std::chrono_literals;
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .set<"alarm window">(500us)
                                .use(cluster::pidfiles{})
                                .use(death_alarm{})
                                .listen(0);
}
