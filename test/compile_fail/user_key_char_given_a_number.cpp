// expect: cluster: this setting takes a character of its own type, e.g. 'x'; not a number
// A key of the user's own of type char: 300 used to be cut to fit a char.
#include <cluster/config.hpp>

template <>
struct cluster::setting<"separator"> {
  using value_type = char;
  static constexpr char const* expects = "a separator character";
};

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"separator">(300).listen(0);
}
