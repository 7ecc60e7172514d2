// expect: user_or_group_id_must_not_be_negative
// A constant out of range: user and group ids are 0 or more.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"group">(-1).listen(0); }
