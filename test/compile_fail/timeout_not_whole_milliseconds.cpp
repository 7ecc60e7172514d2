// expect: duration_must_be_a_whole_number_of_milliseconds
// Durations are kept in milliseconds: 1500us used to become 1 ms without a word.
#include <cluster/config.hpp>

#include <chrono>

struct app {};

void configure() {
  using namespace std::chrono_literals;
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"timeout">(1500us).listen(0);
}
