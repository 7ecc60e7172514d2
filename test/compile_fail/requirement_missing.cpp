// expect: cluster: a plugin is used without a plugin it requires
// cli_like requires pidfiles_like, which is not used at all.
#include <cluster/config.hpp>

struct app {};
struct pidfiles_like {
  static constexpr cluster::fixed_string name = "pidfiles";
};
struct cli_like {
  static constexpr cluster::fixed_string name = "cli";
  using requires_plugins = cluster::type_list<pidfiles_like>;
};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().use(cli_like{}).listen(80); }
