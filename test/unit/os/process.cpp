// SPDX-License-Identifier: BSL-1.0
// How messages name a signal and describe the end of a process.
#include <cluster/os/process.hpp>

#include <catch2/catch.hpp>

#include <signal.h>

#include <string>

using cluster::os::describe_exit;
using cluster::os::signal_name;

TEST_CASE("a signal is named as kill -l names it, with the SIG prefix") {
  CHECK(signal_name(SIGKILL) == "SIGKILL");
  CHECK(signal_name(SIGSEGV) == "SIGSEGV");
  CHECK(signal_name(SIGTERM) == "SIGTERM");
  CHECK(signal_name(SIGUSR2) == "SIGUSR2");
}

TEST_CASE("a number without a name is still a signal: `signal N`") {
  CHECK(signal_name(SIGRTMAX) == "signal " + std::to_string(SIGRTMAX));
  CHECK(signal_name(0) == "signal 0");
  CHECK(signal_name(200) == "signal 200");
  CHECK(signal_name(-1) == "signal -1");
}

TEST_CASE("the end of a process: its exit code, or the signal that killed it") {
  CHECK(describe_exit(3, 0) == "exit code 3");
  CHECK(describe_exit(0, 0) == "exit code 0");
  CHECK(describe_exit(0, SIGKILL) == "SIGKILL");
  CHECK(describe_exit(cluster::os::exit_status{1234, 0, SIGSEGV}) == "SIGSEGV");
  CHECK(describe_exit(0, 64) == "signal 64");
}
