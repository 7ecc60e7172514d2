// expect: cluster: .use() takes a plugin
// .use() of a value that is not a plugin.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().use(42).listen(80); }
