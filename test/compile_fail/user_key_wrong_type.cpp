// expect: cluster: this value does not convert to the type the setting declares
// A key of the user's own with a type of its own: a value must convert to that type.
#include <cluster/config.hpp>

struct ratio {
  int num = 1;
  int den = 1;
};

template <>
struct cluster::setting<"sample ratio"> {
  using value_type = ratio;
  static constexpr char const* expects = "a ratio";
};

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"sample ratio">("1/2").listen(0);
}
