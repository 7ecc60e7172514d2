// expect: cluster: a cli command's handler takes cluster::master_api& first
// The handler runs in the master and is handed it first, even when it does not use it.
#include <cluster/plugins/cli.hpp>

#include <string>

void configure() {
  [[maybe_unused]] auto c = cluster::cli{}.command<"greet", "NAME">(
      "hello", [](std::string name) { return "hello " + name; });
}
