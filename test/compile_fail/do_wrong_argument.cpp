// expect: cluster: .do_(fn) needs a function that takes no argument or the master
// .do_() runs fn() or fn(master): a function of an int can be called with neither.
#include <cluster/cluster.hpp>

struct jobs {
  void work() {}
};

int main(int argc, char** argv) {
  return cluster::cluster<jobs>().do_([](int) {}).run(argc, argv);
}
