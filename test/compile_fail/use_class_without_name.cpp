// expect: cluster: .use() takes a plugin
// A class without 'static constexpr cluster::fixed_string name' is not a plugin.
#include <cluster/config.hpp>

struct app {};
struct almost_a_plugin {
  char const* name = "almost";
};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().use(almost_a_plugin{}).listen(80);
}
