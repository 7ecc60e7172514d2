// expect: (4); not a string, a bool or a floating-point value
// cluster::runtime() defers the range check to start-up, not the type check.
#include <cluster/config.hpp>

#include <string>

struct app {};

void configure() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().set<"workers">(cluster::runtime(std::string{"x"})).listen(0);
}
