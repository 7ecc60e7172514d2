// expect: cluster: this setting is already set in the same
// Two .in<"production">() sections are one branch: the key is set twice in it.
#include <cluster/config.hpp>

struct app {};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .in<"production">()
                                .set<"workers">(4)
                                .in<"development">()
                                .set<"workers">(1)
                                .in<"production">()
                                .set<"workers">(8)
                                .listen(80);
}
