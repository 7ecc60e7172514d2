// expect: cluster: this plugin is already used in this environment
// The same plugin twice in one environment.
#include <cluster/config.hpp>

struct app {};
struct logger_like {
  static constexpr cluster::fixed_string name = "logger";
};

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().in<"production">().use(logger_like{}).use(logger_like{}).listen(80);
}
