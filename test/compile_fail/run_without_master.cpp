// expect: cluster: run() starts the master, which this file does not include
// run() with the configuration headers only: the master's headers are missing.
#include <cluster/config.hpp>

struct app {
  void work() {}
};

int main(int argc, char** argv) { return cluster::cluster<app>().run(argc, argv); }
