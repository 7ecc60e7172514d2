// expect: workers_must_be_at_least_1
// A constant out of range: a cluster without workers serves nothing.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"workers">(0).listen(0); }
