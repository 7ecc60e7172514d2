// SPDX-License-Identifier: BSL-1.0
// A hung worker's trace, as the master reads and words it.
#include <cluster/os/hang.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <string>

using namespace cluster;

namespace {
int trace_file_with(std::string const& text) {
  int const fd = os::make_trace_file();
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  return fd;
}
}  // namespace

TEST_CASE("frames are numbered, demangled, and name the program rather than its title") {
  int const fd = trace_file_with(
      "/lib/x86_64-linux-gnu/libc.so.6(clock_nanosleep+0x23)[0x7f0000001000]\n"
      "cluster worker 1(_ZN12cluster_test15hang_in_handlerEv+0x53)[0x55d000002000]\n"
      "cluster worker 1(+0x261d83)[0x55d000003000]\n"
      "[0x55d000004000]\n");
  CHECK(os::read_trace(fd, "/srv/app/server") ==
        "#0 clock_nanosleep+0x23 in /lib/x86_64-linux-gnu/libc.so.6\n"
        "#1 cluster_test::hang_in_handler()+0x53 in /srv/app/server\n"
        "#2 /srv/app/server+0x261d83\n"
        "#3 [0x55d000004000]");
  ::close(fd);
}

TEST_CASE("an empty trace file is no trace; a huge frame is cut") {
  int const empty = os::make_trace_file();
  CHECK(os::read_trace(empty, "/a").empty());
  ::close(empty);
  int const fd =
      trace_file_with("/a(_Z1fv+0x1)[0x1]\n/lib/x.so(" + std::string(5000, 'y') + "+0x2)[0x2]\n");
  std::string const trace = os::read_trace(fd, "/a");
  CHECK(trace.starts_with("#0 f()+0x1 in /a\n#1 yyy"));
  CHECK(trace.ends_with("..."));
  CHECK(trace.size() < 400);
  ::close(fd);
}

TEST_CASE("/proc tells the state of a process that cannot write its own trace") {
  std::string const report = os::proc_report(::getpid());
  CHECK(report.starts_with("state: R (running)"));
  CHECK(os::proc_report(0).empty());
  CHECK(os::tracer_of(::getpid()) == 0);
}
