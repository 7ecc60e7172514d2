// expect: cluster: two cli commands have the same name; give each its own
// Two commands named "greet": which one `./server greet` runs would be a guess.
#include <cluster/plugins/cli.hpp>

#include <string>

void configure() {
  [[maybe_unused]] auto c =
      cluster::cli{}
          .command<"greet">("hello", [](cluster::master_api&) { return std::string("hello"); })
          .command<"greet">("hi", [](cluster::master_api&) { return std::string("hi"); });
}
