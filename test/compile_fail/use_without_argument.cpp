// expect: cluster: .use() needs a plugin object
// .use() with nothing to use.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().use().listen(0); }
