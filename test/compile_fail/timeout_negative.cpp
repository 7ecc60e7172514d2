// expect: timeout_must_not_be_negative
// A constant out of range: a negative timeout.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"timeout">(-1).listen(0); }
