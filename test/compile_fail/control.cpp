// expect: cluster:
// The harness's control: this program is correct, so its compile-fail test must fail (WILL_FAIL).
#include <cluster/config.hpp>

struct app {};

int main(int argc, char** argv) {
  return cluster::cluster<app>().set<"workers">(4).listen(0).run(argc, argv);
}
