// SPDX-License-Identifier: BSL-1.0
// What each worker process looks like: title, environment, descriptors, credentials.
#include "support/harness.hpp"
#include "support/invariants.hpp"

#include <catch2/catch.hpp>

#include <pwd.h>

using namespace cluster::testing;

namespace {
std::string cmdline(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.substr(0, text.find('\0'));
}
}  // namespace

TEST_CASE("the master and each worker carry their process titles") {
  master_process m("http", {{"WEB_CONCURRENCY", "2"}});
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  CHECK(cmdline(m.pid()) == "cluster master");
  CHECK(cmdline(m.worker_pid(0)) == "cluster worker 0");
  CHECK(cmdline(m.worker_pid(1)) == "cluster worker 1");
}

TEST_CASE("titles show whole when the command line is shorter, and a restart keeps its arguments") {
  // Started as `h http`: seven bytes of arguments, shorter than every title.
  master_process m(program{{"/bin/bash", "-c", "exec -a h \"$0\" http", CLUSTER_TEST_SERVER}},
                   {{"WEB_CONCURRENCY", "2"}, {"CLUSTER_TEST_TITLE_PROBE", "seen"}});
  REQUIRE(m.port() > 0);
  REQUIRE(m.wait_line("worker_connected id=0") >= 0);
  REQUIRE(m.wait_line("worker_connected id=1") >= 0);
  CHECK(cmdline(m.pid()) == "cluster master");
  CHECK(cmdline(m.worker_pid(0)) == "cluster worker 0");
  CHECK(cmdline(m.worker_pid(1)) == "cluster worker 1");
  // The variables the title wrote over were moved first: workers still read them.
  CHECK(http_get(m.port(), "/env/CLUSTER_TEST_TITLE_PROBE").find("seen") != std::string::npos);

  // The successor is exec'd with the original arguments (mode `http`), not with the title.
  m.signal(SIGUSR2);
  std::string const next = m.capture(R"(cluster: restart: new master (\d+) is serving)", 20s);
  REQUIRE_FALSE(next.empty());
  int const successor = std::stoi(next);
  CHECK(m.wait(20s) == 0);
  REQUIRE(wait_until([&] { return live_children(successor).size() == 2; }));
  CHECK(cmdline(successor) == "cluster master");
  for (int pid : live_children(successor)) CHECK(cmdline(pid).starts_with("cluster worker "));
  CHECK(http_get(m.port(), "/env/CLUSTER_TEST_TITLE_PROBE").find("seen") != std::string::npos);
  ::kill(successor, SIGTERM);
  CHECK(wait_until([&] { return !alive(successor); }, 20s));
}

TEST_CASE("workers inherit no descriptor an exec'd program would keep") {
  master_process m("fds", {{"WEB_CONCURRENCY", "2"}});
  REQUIRE(m.wait_line("fd report 0 done") >= 0);
  REQUIRE(m.wait_line("fd report 1 done") >= 0);
  CHECK(m.count("inheritable fd") == 0);
}

TEST_CASE("workers drop to the configured user and lose supplementary groups") {
  if (::geteuid() != 0) {
    WARN("not root: switching users cannot be tested");
    return;
  }
  passwd const* nobody = ::getpwnam("nobody");
  REQUIRE(nobody != nullptr);
  master_process m("http", {{"WEB_CONCURRENCY", "1"}, {"CLUSTER_TEST_USER", "nobody"}});
  std::string const r = http_get(m.port(), "/");
  CHECK(r.find("uid=" + std::to_string(nobody->pw_uid) + " gid=" + std::to_string(nobody->pw_gid) +
               " groups=0") != std::string::npos);
}

TEST_CASE("an unknown user is one error line before any worker starts") {
  master_process m("http", {{"CLUSTER_TEST_USER", "no-such-user-here"}});
  REQUIRE(m.wait(10s) == 1);
  CHECK(m.wait_line("^cluster: unknown user 'no-such-user-here'", 1s) >= 0);
  CHECK(m.count("worker_spawned") == 0);
}
