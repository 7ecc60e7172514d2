// expect: text_must_not_be_empty
// A constant out of range: an empty process title.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"title">("").listen(0); }
