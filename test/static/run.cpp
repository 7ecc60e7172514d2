// SPDX-License-Identifier: BSL-1.0
// The good twins of the compile-fail cases that need run(): each program compiles, never runs.
#include <cluster/cluster.hpp>

#include <boost/asio/awaitable.hpp>

#include <type_traits>

namespace run_test {

struct echo {
  boost::asio::awaitable<void> serve(cluster::stream) { co_return; }
};
struct jobs {
  void work() {}
};

// listens_on_nothing.cpp, server_without_members.cpp
int listens(int argc, char** argv) {
  return cluster::cluster<echo>().set<"workers">(2).listen(0).run(argc, argv);
}

// branch_listens_on_nothing.cpp: every branch listens (here each its own port).
int every_branch_listens(int argc, char** argv) {
  return cluster::cluster<echo>()
      .in<"development">()
      .listen(3000)
      .in<"production">()
      .set<"workers">(4)
      .listen(80)
      .run(argc, argv);
}

// do_wrong_argument.cpp: actions take nothing or the master.
int actions(int argc, char** argv) {
  return cluster::cluster<jobs>()
      .do_([] {})
      .do_([](auto& master) { (void)master; })
      .run(argc, argv);
}

// A server object built in the master, in a configuration that is itself const: run() hands the
// workers a copy of its own, never a mutable view of the const builder.
int const_preloaded(int argc, char** argv) {
  auto const config = cluster::cluster(cluster::job([] {})).set<"workers">(2);
  static_assert(std::is_const_v<decltype(config)>);
  return config.run(argc, argv);
}

}  // namespace run_test
