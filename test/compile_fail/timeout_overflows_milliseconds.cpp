// expect: duration_must_not_be_longer_than_146_years
// Hours whose milliseconds overflow 64 bits: the conversion itself used to overflow, which the
// compiler reported in its own words.
#include <cluster/config.hpp>

#include <chrono>
#include <limits>

struct app {};

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>()
          .set<"timeout">(std::chrono::hours{std::numeric_limits<long long>::max() / 1000})
          .listen(0);
}
