// expect: cluster: unknown setting name
#include <cluster/config.hpp>

struct app {};

int main(int argc, char** argv) {
  return cluster::cluster<app>().set<"workerz">(4).listen(0).run(argc, argv);
}
