// expect: cluster: this plugin's on() takes a master event with cluster::this_worker&, so it is never called
// A master event taken with this_worker&: only the master emits it, so it would never be called.
#include <cluster/config.hpp>
#include <cluster/this_worker.hpp>

struct app {};
struct spawn_counter {
  static constexpr cluster::fixed_string name = "spawn counter";
  int spawned = 0;
  void on(cluster::events::worker_spawned const& /*event*/, cluster::this_worker& /*self*/) {
    ++spawned;
  }
};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().use(spawn_counter{}).listen(80);
}
