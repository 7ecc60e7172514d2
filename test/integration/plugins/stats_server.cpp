// SPDX-License-Identifier: BSL-1.0
// The program the stats tests start: an HTTP cluster using the stats plugin.
//
// Environment: STATS_METRICS (the metrics address, default 127.0.0.1:0; `off` for none),
// STATS_COUNT (`1` to count connections and requests), PORT, WEB_CONCURRENCY. SIGUSR1 prints the
// text report on stderr between `stats report begin` and `stats report end` lines.
#include <cluster/cluster.hpp>
#include <cluster/plugins/stats.hpp>
#include <cluster/server/http.hpp>

#include "../support/test_config.hpp"
#include "program.hpp"

#include <concepts>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

/// The text report on SIGUSR1 (the `reopen` event), as a REPL's `stats()` would show it.
struct report_on_reopen {
  static constexpr cluster::fixed_string name = "stats report on reopen";
  using requires_plugins = cluster::type_list<cluster::stats>;

  // Not in workers, which get `reopen` too (with `this_worker&`).
  template <class Master>
  requires(!std::same_as<Master, cluster::this_worker>) void on(cluster::events::reopen const&,
                                                                Master& master) {
    std::string const text = master.template plugin<cluster::stats>().report(master);
    std::fprintf(stderr, "stats report begin\n%sstats report end\n", text.c_str());
    std::fflush(stderr);
  }
};

}  // namespace

int main(int argc, char** argv) {
  bool const count = cluster::testing::text_from_env("STATS_COUNT", "0") == "1";
  std::string metrics = cluster::testing::text_from_env("STATS_METRICS", "127.0.0.1:0");
  if (metrics == "off") metrics.clear();
  return cluster::cluster<cluster::testing::pid_server>()
      .use(cluster::stats{.connections = count, .requests = count, .metrics = metrics})
      .use(cluster::testing::event_trace{})
      .use(report_on_reopen{})
      .set<"workers">(cluster::runtime(cluster::testing::count_from_env("WEB_CONCURRENCY", 2)))
      // A port known at run time with a literal host.
      .listen(cluster::runtime(cluster::testing::count_from_env("PORT", 0)), "127.0.0.1")
      .run(argc, argv);
}
