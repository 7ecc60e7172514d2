// SPDX-License-Identifier: BSL-1.0
// The good twins of the compile-fail cases about a plugin's own keys (example/death_alarm.hpp):
// they are checked like the built-in keys, and take every value that fits.
#include "../../example/death_alarm.hpp"

#include <cluster/config.hpp>

#include <chrono>

namespace plugin_keys_test {

using namespace std::chrono_literals;

struct app {};

// alarm_deaths_zero.cpp, alarm_deaths_too_big.cpp: 1 to the largest unsigned.
static_assert(cluster::value_for<"alarm deaths">(1).value == 1u);
static_assert(cluster::value_for<"alarm deaths">(4294967295LL).value == 4294967295u);

// alarm_window_negative.cpp, alarm_window_wrong_type.cpp, alarm_window_not_whole_milliseconds.cpp:
// a duration of whole milliseconds, in any unit.
static_assert(cluster::value_for<"alarm window">(1ms).value == 1ms);
static_assert(cluster::value_for<"alarm window">(1000us).value == 1ms);
static_assert(cluster::value_for<"alarm window">(10s).value == 10000ms);

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .set<"alarm deaths">(4294967295LL)
                                .set<"alarm window">(1000us)
                                .use(cluster::pidfiles{})
                                .use(death_alarm{})
                                .listen(0);
}

}  // namespace plugin_keys_test
