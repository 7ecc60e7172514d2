// expect: workers_must_be_at_least_1
// A negative count is beyond unsigned on the side the key's own rule forbids anyway: the rule is
// the message, not the type.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"workers">(-1).listen(0); }
