// expect: cluster: a cli command's name is 1 to 32 lowercase letters, digits and dashes, starting with a letter
// A command name is typed on a command line: "Greet!" is not one.
#include <cluster/plugins/cli.hpp>

#include <string>

void configure() {
  [[maybe_unused]] auto c = cluster::cli{}.command<"Greet!">(
      "hello", [](cluster::master_api&) { return std::string("hello"); });
}
