// expect: cluster: a plugin reaches only the plugins it requires
// A plugin reaching another plugin it does not declare in requires_plugins.
#include <cluster/cluster.hpp>

struct app {
  void work() {}
};
struct counter {
  static constexpr cluster::fixed_string name = "counter";
  int spawned = 0;
  template <class Master>
  void on(cluster::events::worker_spawned const& /*event*/, Master& /*master*/) {
    ++spawned;
  }
};
struct reporter {
  static constexpr cluster::fixed_string name = "reporter";
  template <class Master>
  void on(cluster::events::worker_killed const& /*event*/, Master& master) {
    [[maybe_unused]] int const n = master.template plugin<counter>().spawned;
  }
};

int main(int argc, char** argv) {
  return cluster::cluster<app>().use(counter{}).use(reporter{}).run(argc, argv);
}
