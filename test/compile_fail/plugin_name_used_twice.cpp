// expect: cluster: another plugin with the same name is already used in this environment
// Two plugin types with one name in one environment: their restart state would collide.
#include <cluster/config.hpp>

struct app {};
struct access_log {
  static constexpr cluster::fixed_string name = "log";
};
struct error_log {
  static constexpr cluster::fixed_string name = "log";
};

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().use(access_log{}).in<"production">().use(error_log{}).listen(80);
}
