// expect: greeting_must_not_be_empty
// A key of the user's own, with a check and a reject function: the same rules as built-in keys.
#include <cluster/config.hpp>

#include <string_view>

void greeting_must_not_be_empty();

template <>
struct cluster::setting<"greeting"> {
  using value_type = std::string_view;
  static constexpr char const* expects = "a non-empty greeting";
  static constexpr bool check(std::string_view text) { return !text.empty(); }
  static constexpr auto reject = &greeting_must_not_be_empty;
  static constexpr value_type default_value = "hello";
};

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"greeting">("").listen(0);
}
