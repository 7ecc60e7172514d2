// expect: cluster: this plugin's on() takes an event by non-const reference, so it is never called
// A hook taking the event by non-const reference: events are delivered const, so it would
// compile and never be called.
#include <cluster/config.hpp>

struct app {};
struct counter {
  static constexpr cluster::fixed_string name = "counter";
  int deaths = 0;
  template <class Master>
  void on(cluster::events::worker_killed& /*event*/, Master& /*master*/) {
    ++deaths;
  }
};

void configure() { [[maybe_unused]] auto c = cluster::cluster<app>().use(counter{}).listen(80); }
