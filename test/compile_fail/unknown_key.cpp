// expect: cluster: unknown setting name in .set<
// A misspelt key: "workerz" is no setting, built in or declared.
#include <cluster/config.hpp>

struct app {};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"workerz">(4).listen(0); }
