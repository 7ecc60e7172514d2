// expect: cluster: a cli command's handler is a function or a lambda without auto parameters
// With `auto` parameters, the types the command's words must have are unknown.
#include <cluster/plugins/cli.hpp>

#include <string>

void configure() {
  [[maybe_unused]] auto c = cluster::cli{}.command<"greet", "NAME">(
      "hello", [](auto&, auto name) { return std::string(name); });
}
