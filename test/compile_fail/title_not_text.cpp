// expect: cluster: this setting takes text
// "title" is text: a number is the wrong kind of value.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"title">(42).listen(0); }
