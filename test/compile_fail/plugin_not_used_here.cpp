// expect: cluster: plugin<P>() names a plugin this environment does not use
// Asking a resolved configuration for a plugin its environment does not use.
#include <cluster/config.hpp>

struct app {};
struct logger_like {
  static constexpr cluster::fixed_string name = "logger";
};

template <cluster::fixed_string Env, class Server, class... Ops>
auto resolve_in(cluster::cluster<Server, Ops...> const& builder) {
  return cluster::resolved<Server, Env, Ops...>{builder};
}

void inspect() {
  auto const builder =
      cluster::cluster<app>().in<"development">().use(logger_like{}).in<"all">().listen(0);
  auto config = resolve_in<"production">(builder);
  [[maybe_unused]] auto& logger = config.plugin<logger_like>();
}
