// expect: cluster: this plugin's on() overloads match no event, so none is ever called
// A hook whose second parameter is neither the master nor this_worker: it matches no event.
#include <cluster/config.hpp>

struct app {};
struct watcher {
  static constexpr cluster::fixed_string name = "watcher";
  void on(cluster::events::worker_killed const& /*event*/, int /*master*/) {}
};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().use(watcher{}).listen(80); }
