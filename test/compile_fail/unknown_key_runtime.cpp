// expect: cluster: unknown setting name in .set<
// A misspelt key with a value known only at run time: the same message as for a constant.
#include <cluster/config.hpp>

struct app {};

void configure(unsigned n) {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"workerz">(cluster::runtime(n)).listen(0);
}
