// expect: cluster: a server with handle() is an HTTP server; add
// A server with handle() is served over HTTP, which lives in its own header.
#include <cluster/cluster.hpp>

struct hello {
  int handle(int request) { return request; }
};

int main(int argc, char** argv) { return cluster::cluster<hello>().listen(0).run(argc, argv); }
