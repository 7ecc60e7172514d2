// expect: cluster: this setting takes a duration
// "timeout" is in milliseconds: a string such as "30s" is not parsed.
#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"timeout">("30s").listen(0);
}
