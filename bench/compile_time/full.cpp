// SPDX-License-Identifier: BSL-1.0
// Compile-time benchmark: every setting, several plugins, three environments, run().
#include <cluster/cluster.hpp>

#include <chrono>
#include <cstdio>

namespace {

struct app {
  boost::asio::awaitable<void> serve(cluster::stream connection) {
    connection.close();
    co_return;
  }
};

struct counter {
  static constexpr cluster::fixed_string name = "counter";
  long spawned = 0;
  template <class Master>
  void on(cluster::events::worker_spawned const&, Master&) {
    ++spawned;
  }
};

struct announcer {
  static constexpr cluster::fixed_string name = "announcer";
  template <class Master>
  void on(cluster::events::start const&, Master&) {
    std::puts("starting");
  }
  template <class Master>
  void on(cluster::events::close const&, Master&) {
    std::puts("closed");
  }
};

struct auditor {
  static constexpr cluster::fixed_string name = "auditor";
  using requires_plugins = cluster::type_list<announcer>;
  template <class Master>
  void on(cluster::events::worker_killed const& ev, Master&) {
    std::printf("worker %u died\n", ev.id);
  }
};

struct silent {
  static constexpr cluster::fixed_string name = "silent";
};

}  // namespace

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  return cluster::cluster<app>()
      .set<"working directory">("/")
      .set<"backlog">(511)
      .set<"timeout">(30s)
      .set<"title">("bench master")
      .set<"worker title">("bench worker {n}")
      .set<"socket path">("/tmp/bench.sock")
      .use(announcer{})
      .use(silent{})
      .listen(0, "127.0.0.1")
      .in<"development">()
      .set<"workers">(1)
      .set<"restart threshold">(1000)
      .use(counter{})
      .in<"staging">()
      .set<"workers">(2)
      .set<"user">("nobody")
      .use(auditor{})
      .in<"production">()
      .set<"workers">(8)
      .set<"user">("www-data")
      .set<"group">("www-data")
      .set<"restart timeout">(90s)
      .use(counter{})
      .use(auditor{})
      .do_([] { std::puts("production"); })
      .run(argc, argv);
}
