// expect: liveness_timeout_must_be_0_or_at_least_1000_ms
// A liveness timeout the master's 500 ms check cannot honour: workers would be killed between two
// checks (Puma's endless kill loop). Its good twin, 1 s, is in control.cpp.
#include <cluster/config.hpp>

#include <chrono>

using namespace std::chrono_literals;

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"liveness timeout">(500ms).listen(0);
}
