// SPDX-License-Identifier: BSL-1.0
// The master's decisions on a simulated clock: replace, remove, shut down, give up.
#include <cluster/master.hpp>

#include <catch2/catch.hpp>

using cluster::master_state;
using cluster::detail::crash_guard;
using cluster::detail::supervisor;
using outcome = supervisor::outcome;
using namespace std::chrono_literals;

namespace {
/// Starts the ids `grow` returns with pids 100 + id, as a master would after fork().
void start_all(supervisor& s, std::vector<unsigned> const& ids, supervisor::clock::time_point t) {
  for (unsigned id : ids) s.started(id, static_cast<int>(100 + id), t);
}
}  // namespace

TEST_CASE("a worker that dies while active is replaced with its id") {
  supervisor s{supervisor::clock::time_point{}};
  supervisor::clock::time_point t{};
  auto const ids = s.grow(3);
  CHECK(ids == std::vector<unsigned>{0, 1, 2});
  start_all(s, ids, t);
  supervisor::entry dead;
  CHECK(s.exited(101, t + 1s, dead) == outcome::replace);
  CHECK(dead.id == 1);
  CHECK(s.workers().size() == 2);
  CHECK(s.exited(999, t + 1s, dead) == outcome::unknown);
}

TEST_CASE("shrinking stops the highest ids, which are then not replaced") {
  supervisor s{supervisor::clock::time_point{}};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(3), t);
  CHECK(s.shrink(2) == std::vector<int>{102, 101});
  CHECK(s.target() == 1);
  supervisor::entry dead;
  CHECK(s.exited(102, t, dead) == outcome::removed);
  CHECK(s.exited(101, t, dead) == outcome::removed);
  SECTION("growing again reuses the freed ids") { CHECK(s.grow(1) == std::vector<unsigned>{1}); }
  SECTION("never below zero") {
    CHECK(s.shrink(5) == std::vector<int>{100});
    CHECK(s.target() == 0);
  }
}

TEST_CASE("a graceful shutdown stops every worker once and replaces none") {
  supervisor s{supervisor::clock::time_point{}};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(2), t);
  auto const removed = s.shrink(1);  // already stopping: not asked twice
  CHECK(s.begin_graceful() == std::vector<int>{100});
  CHECK(s.state() == master_state::graceful_shutdown);
  CHECK(s.begin_graceful().empty());
  CHECK(s.grow(1).empty());
  supervisor::entry dead;
  CHECK(s.exited(100, t, dead) == outcome::shutting_down);
  CHECK_FALSE(s.finished());
  CHECK(s.exited(101, t, dead) == outcome::shutting_down);
  CHECK(s.finished());
  SECTION("a hard shutdown may still follow a graceful one, but only once") {
    CHECK(s.begin_hard());
    CHECK_FALSE(s.begin_hard());
  }
}

TEST_CASE("a crash loop gives up instead of forking forever") {
  supervisor s(supervisor::clock::time_point{}, crash_guard(5, 10s));
  supervisor::clock::time_point t{};
  start_all(s, s.grow(1), t);
  supervisor::entry dead;
  int pid = 100;
  for (int i = 0; i < 4; ++i) {
    REQUIRE(s.exited(pid, t + i * 10ms, dead) == outcome::replace);
    s.started(0, ++pid, t + i * 10ms);
  }
  CHECK(s.exited(pid, t + 50ms, dead) == outcome::give_up);
}

TEST_CASE("workers that die now and then are always replaced") {
  supervisor s(supervisor::clock::time_point{}, crash_guard(5, 10s));
  supervisor::clock::time_point t{};
  start_all(s, s.grow(1), t);
  supervisor::entry dead;
  int pid = 100;
  for (int i = 1; i <= 50; ++i) {
    REQUIRE(s.exited(pid, t + i * 3s, dead) == outcome::replace);
    s.started(0, ++pid, t + i * 3s);
  }
}

TEST_CASE("after boot, only workers that never came up count towards giving up") {
  supervisor::clock::time_point const boot{};
  supervisor s(boot, crash_guard(5, 10s));
  auto const later = boot + 1h;
  start_all(s, s.grow(1), later);
  supervisor::entry dead;
  int pid = 100;
  SECTION("serving workers that crash fast (a poisoned request) are always replaced") {
    for (int i = 0; i < 50; ++i) {
      s.connected(pid);
      REQUIRE(s.exited(pid, later + i * 10ms, dead) == outcome::replace);
      s.started(0, ++pid, later + i * 10ms);
    }
  }
  SECTION("workers that fail before they come up still give up") {
    for (int i = 0; i < 4; ++i) {
      REQUIRE(s.exited(pid, later + i * 10ms, dead) == outcome::replace);
      s.started(0, ++pid, later + i * 10ms);
    }
    CHECK(s.exited(pid, later + 50ms, dead) == outcome::give_up);
  }
}

TEST_CASE("in the first window after boot every death counts, as in the original") {
  supervisor::clock::time_point const boot{};
  supervisor s(boot, crash_guard(5, 10s));
  start_all(s, s.grow(1), boot);
  supervisor::entry dead;
  int pid = 100;
  for (int i = 0; i < 4; ++i) {
    s.connected(pid);
    REQUIRE(s.exited(pid, boot + i * 10ms, dead) == outcome::replace);
    s.started(0, ++pid, boot + i * 10ms);
  }
  s.connected(pid);
  CHECK(s.exited(pid, boot + 50ms, dead) == outcome::give_up);
}
