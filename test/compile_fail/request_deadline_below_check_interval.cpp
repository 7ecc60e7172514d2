// expect: request_deadline_must_be_0_or_at_least_1000_ms
// A request deadline the master's 500 ms check cannot honour for a synchronous handler. Its
// good twin, 10 s, is in control.cpp.
#include <cluster/config.hpp>

#include <chrono>

using namespace std::chrono_literals;

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"request deadline">(250ms).listen(0);
}
