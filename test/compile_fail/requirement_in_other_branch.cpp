// expect: cluster: a plugin is used without a plugin it requires
// pidfiles_like is used in development only, so production's cli_like lacks it.
#include <cluster/config.hpp>

struct app {};
struct pidfiles_like {
  static constexpr cluster::fixed_string name = "pidfiles";
};
struct cli_like {
  static constexpr cluster::fixed_string name = "cli";
  using requires_plugins = cluster::type_list<pidfiles_like>;
};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .in<"development">()
                                .use(pidfiles_like{})
                                .in<"production">()
                                .use(cli_like{})
                                .listen(80);
}
