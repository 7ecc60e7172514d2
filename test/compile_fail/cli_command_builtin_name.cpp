// expect: cluster: this cli command's name is a built-in command's; choose another name
// "status" is the cli's own command: a command of the program's own cannot replace it.
#include <cluster/plugins/cli.hpp>

#include <string>

void configure() {
  [[maybe_unused]] auto c = cluster::cli{}.command<"status">(
      "my status", [](cluster::master_api&) { return std::string("fine"); });
}
