// expect: cluster: this setting takes true or false; not a number or text
// A key of the user's own of type bool: 2 used to become true.
#include <cluster/config.hpp>

template <>
struct cluster::setting<"verbose"> {
  using value_type = bool;
  static constexpr char const* expects = "true or false";
};

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"verbose">(2).listen(0); }
