// SPDX-License-Identifier: BSL-1.0
// When worker deaths mean a broken application: the sliding window, on a simulated clock.
#include <cluster/config/concepts.hpp>
#include <cluster/ipc/worker_setup.hpp>
#include <cluster/master/supervisor.hpp>

#include <catch2/catch.hpp>

using cluster::detail::crash_guard;
using namespace std::chrono_literals;

TEST_CASE("twenty deaths within twenty seconds give up") {
  crash_guard guard;
  crash_guard::clock::time_point t{};
  for (int i = 0; i < 19; ++i) REQUIRE_FALSE(guard.record(t + i * 100ms));
  CHECK(guard.record(t + 1900ms));
}

TEST_CASE("deaths spread wider than the window never give up") {
  crash_guard guard(3, 10s);
  crash_guard::clock::time_point t{};
  for (int i = 0; i < 100; ++i) REQUIRE_FALSE(guard.record(t + i * 6s));
}

TEST_CASE("old deaths leave the window") {
  crash_guard guard(3, 10s);
  crash_guard::clock::time_point t{};
  CHECK_FALSE(guard.record(t));
  CHECK_FALSE(guard.record(t + 1s));
  CHECK_FALSE(guard.record(t + 12s));  // the first two are more than 10 s old
  CHECK_FALSE(guard.record(t + 13s));
  CHECK(guard.record(t + 14s));
}

TEST_CASE("signal policies map signals to actions") {
  using cluster::master_action;
  STATIC_REQUIRE(cluster::default_signals::action(SIGTERM) == master_action::hard_shutdown);
  STATIC_REQUIRE(cluster::default_signals::action(SIGQUIT) == master_action::graceful_shutdown);
  STATIC_REQUIRE(cluster::default_signals::action(SIGTTIN) == master_action::add_worker);
  STATIC_REQUIRE(cluster::default_signals::action(SIGTTOU) == master_action::remove_worker);
  STATIC_REQUIRE(cluster::container_signals::action(SIGTERM) == master_action::graceful_shutdown);
  STATIC_REQUIRE(cluster::container_signals::action(SIGINT) == master_action::hard_shutdown);
  STATIC_REQUIRE(cluster::plugin<cluster::container_signals>);
}

TEST_CASE("worker titles replace {n} with the id") {
  CHECK(cluster::ipc::worker_title("cluster worker {n}", 3) == "cluster worker 3");
  CHECK(cluster::ipc::worker_title("app[{n}] of {n}", 12) == "app[12] of 12");
  CHECK(cluster::ipc::worker_title("plain", 1) == "plain");
}
