// expect: max_age_must_be_0_or_at_least_1000_ms
// A max age the master's 500 ms check cannot honour. Its good twin, 1 s, is in control.cpp.
#include <cluster/config.hpp>

#include <chrono>

using namespace std::chrono_literals;

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"max age">(300ms).listen(0);
}
