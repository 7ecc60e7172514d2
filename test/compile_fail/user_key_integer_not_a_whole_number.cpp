// expect: cluster: this setting takes a whole number; not a string, a bool, a character
// A key of the user's own with an integer type: 1.5 used to be truncated to 1.
#include <cluster/config.hpp>

template <>
struct cluster::setting<"retries"> {
  using value_type = long;
  static constexpr char const* expects = "a number of retries";
};

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"retries">(1.5).listen(0);
}
