// expect: duration_must_not_be_longer_than_146_years
// milliseconds::max() fits in milliseconds, but the master adds timeouts to its steady clock,
// whose nanoseconds it would overflow: "never" is spelled with a long, but finite, duration.
#include <cluster/config.hpp>

#include <chrono>

struct app {};

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().set<"timeout">(std::chrono::milliseconds::max()).listen(0);
}
