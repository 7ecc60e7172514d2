// expect: backlog_must_be_at_least_1
// A constant out of range: the listen backlog is at least 1.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"backlog">(0).listen(0); }
