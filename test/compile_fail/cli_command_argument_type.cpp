// expect: cluster: a cli command's arguments are std::string, int, unsigned, long long or double
// A word on a command line cannot become a pointer.
#include <cluster/plugins/cli.hpp>

#include <string>

void configure() {
  [[maybe_unused]] auto c = cluster::cli{}.command<"greet", "NAME">(
      "hello", [](cluster::master_api&, char const* name) { return std::string(name); });
}
