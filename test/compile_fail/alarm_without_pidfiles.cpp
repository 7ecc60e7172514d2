// expect: cluster: a plugin is used without a plugin it requires
// death_alarm requires cluster::pidfiles, which must be used before it.
#include "../../example/death_alarm.hpp"

#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().use(death_alarm{}).listen(0); }
