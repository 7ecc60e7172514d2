// SPDX-License-Identifier: BSL-1.0
// What each worker process looks like: title, environment, descriptors, credentials.
#include "support/harness.hpp"

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
