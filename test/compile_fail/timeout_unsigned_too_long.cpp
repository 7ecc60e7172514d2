// expect: duration_must_not_be_longer_than_146_years
// An unsigned count beyond milliseconds' range: it used to turn negative and be reported as a
// negative timeout.
#include <cluster/config.hpp>

#include <chrono>

struct app {};

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>()
          .set<"timeout">(std::chrono::duration<unsigned long long, std::milli>{1ULL << 63})
          .listen(0);
}
