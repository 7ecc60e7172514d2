// expect: value_does_not_fit_in_unsigned_short
// A key of the user's own with a small integer type: a value beyond it used to be cut to fit.
#include <cluster/config.hpp>

#include <cstdint>

template <>
struct cluster::setting<"sample port"> {
  using value_type = std::uint16_t;
  static constexpr char const* expects = "a port number";
};

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"sample port">(70000).listen(0);
}
