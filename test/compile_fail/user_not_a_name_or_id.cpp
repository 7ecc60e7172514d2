// expect: cluster: user and group take a name or a numeric id
// "user" is a name or an id: a bool is neither.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"user">(true).listen(0); }
