// SPDX-License-Identifier: BSL-1.0
// How debug and logger word a worker's end: the signal by its name, the exit status by its number.
#include <cluster/plugins/wording.hpp>

#include <catch2/catch.hpp>

#include <signal.h>

using cluster::events::exit_reason;
using cluster::events::worker_killed;

TEST_CASE("a worker killed by a signal is said to be killed by its name") {
  CHECK(cluster::wording::how_it_ended(0, SIGKILL) == "killed by SIGKILL");
  CHECK(cluster::wording::how_it_ended(0, SIGSEGV) == "killed by SIGSEGV");
  CHECK(cluster::wording::how_it_ended(0, 64) == "killed by signal 64");
  CHECK(cluster::wording::how_it_ended(3, 0) == "exited with status 3");
}

TEST_CASE("the lines of a worker's end name the signal") {
  auto const crashed =
      cluster::wording::of(worker_killed{0, 1234, 0, SIGKILL, exit_reason::crashed});
  CHECK(crashed.level == cluster::log_level::warning);
  CHECK(crashed.text == "worker 0 (pid 1234) crashed: killed by SIGKILL");
  auto const killed = cluster::wording::of(worker_killed{1, 1235, 0, SIGTERM, exit_reason::killed});
  CHECK(killed.level == cluster::log_level::info);
  CHECK(killed.text == "worker 1 (pid 1235) killed by SIGTERM, sent by the master; replaced");
}
