// expect: cluster: .listen(cluster::runtime(port)) takes a whole number
// A port known only at run time must still be a whole number.
#include <cluster/config.hpp>

struct app {};

void configure(double port) {
  [[maybe_unused]] auto c = cluster::cluster<app>().listen(cluster::runtime(port));
}
