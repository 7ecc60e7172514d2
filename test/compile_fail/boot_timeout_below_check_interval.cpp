// expect: boot_timeout_must_be_0_or_at_least_1000_ms
// A boot timeout shorter than the master's check can measure. Its good twin, 0 (off), is in
// control.cpp.
#include <cluster/config.hpp>

#include <chrono>

using namespace std::chrono_literals;

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"boot timeout">(999ms).listen(0);
}
