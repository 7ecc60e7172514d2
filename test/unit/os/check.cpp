// SPDX-License-Identifier: BSL-1.0
// Running a build's configuration check as a fresh child: its environment, its descriptors, its
// outcome, and a check that does not end.
#include <cluster/os/check.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdlib>
#include <string>

using namespace std::chrono_literals;
using cluster::os::run_check;

TEST_CASE("the check runs with CLUSTER_CHECK=1, and nothing of the caller's to take") {
  ::setenv("LISTEN_FDS", "2", 1);
  ::setenv("CLUSTER_HANDOFF_FD", "5", 1);
  // A descriptor of the caller's that is not close-on-exec: the check must not get it either.
  REQUIRE(::dup2(2, 50) == 50);
  auto const out =
      run_check("/bin/sh",
                {"sh", "-c",
                 "kept=none; for f in 3 4 5 50; do [ -e /proc/$$/fd/$f ] && "
                 "kept=$f; done; echo \"check=$CLUSTER_CHECK listen=${LISTEN_FDS-none} "
                 "handoff=${CLUSTER_HANDOFF_FD-none} kept=$kept dir=$PWD\"; exit 3"},
                "/tmp", 10s);
  ::close(50);
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("CLUSTER_HANDOFF_FD");
  CHECK(out.status == 3);
  CHECK_FALSE(out.ok());
  CHECK(out.line == "check=1 listen=none handoff=none kept=none dir=/tmp");
}

TEST_CASE("the last line of what the check says is its outcome") {
  auto const ok = run_check("/bin/sh", {"sh", "-c", "echo first >&2; echo 'all good'"}, "", 10s);
  CHECK(ok.ok());
  CHECK(ok.line == "all good");
}

TEST_CASE("a build that cannot run, or a check that never ends, is a failed check") {
  auto const missing = run_check("/no/such/server", {"server"}, "", 10s);
  CHECK(missing.status == 127);
  CHECK(missing.line == "cluster: cannot execute /no/such/server: No such file or directory");
  auto const stuck = run_check("/bin/sh", {"sh", "-c", "sleep 30"}, "", 300ms);
  CHECK(stuck.status == 128 + SIGKILL);
  CHECK(stuck.line == "cluster: the check did not finish within 300 ms");
  // Its output closed on purpose, it runs on: still bounded.
  auto const quiet =
      run_check("/bin/sh", {"sh", "-c", "exec >/dev/null 2>&1; sleep 30"}, "", 300ms);
  CHECK(quiet.status == 128 + SIGKILL);
  auto const elsewhere = run_check("/bin/sh", {"sh"}, "/no/such/directory", 10s);
  CHECK(elsewhere.status == 127);
  CHECK(elsewhere.line.starts_with("cluster: cannot execute /bin/sh: No such file or directory"));
}
