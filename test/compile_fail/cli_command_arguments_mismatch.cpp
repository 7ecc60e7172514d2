// expect: cluster: a cli command's handler takes as many arguments as its declaration names
// The declaration names one argument, NAME; the handler takes two.
#include <cluster/plugins/cli.hpp>

#include <string>

void configure() {
  [[maybe_unused]] auto c = cluster::cli{}.command<"greet", "NAME">(
      "hello", [](cluster::master_api&, std::string name, int times) {
        return name + std::to_string(times);
      });
}
