// expect: cluster: the server type has none of work(), handle(request) or serve(cluster::stream)
// errors: 2
// A server is recognised by its members: an empty class is no server.
#include <cluster/cluster.hpp>

struct app {};

int main(int argc, char** argv) { return cluster::cluster<app>().listen(0).run(argc, argv); }
