// expect: cluster: this plugin is already used in this environment
// A plugin used for all environments is in every branch: using it again in one is a repeat.
#include <cluster/config.hpp>

struct app {};
struct logger_like {
  static constexpr cluster::fixed_string name = "logger";
};

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().use(logger_like{}).in<"production">().use(logger_like{}).listen(80);
}
