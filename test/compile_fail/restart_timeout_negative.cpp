// expect: restart_timeout_must_not_be_negative
// A constant out of range: a negative std::chrono duration is checked like a number.
#include <cluster/config.hpp>

#include <chrono>

using namespace std::chrono_literals;

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"restart timeout">(-1s).listen(0);
}
