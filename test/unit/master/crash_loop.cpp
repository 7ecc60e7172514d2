// SPDX-License-Identifier: BSL-1.0
// The crash-loop policy's decisions on a simulated clock: how long a replacement waits, when the
// master gives up.
#include <cluster/master/supervisor.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

using cluster::crash_loop_policy;
using cluster::detail::crash_loop;
using cluster::detail::supervisor;
using outcome = supervisor::outcome;
using namespace std::chrono_literals;

namespace {
using time_point = crash_loop::clock::time_point;

/// The waits of `n` deaths in a row of id 0, each worker having lived `life`, after boot.
std::vector<std::chrono::milliseconds> waits(crash_loop& c, int n, crash_loop::clock::duration life,
                                             bool served = true) {
  std::vector<std::chrono::milliseconds> out;
  time_point t{};
  for (int i = 0; i < n; ++i) {
    auto const d = c.died(0, t, served, true, t + life);
    out.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(d.delay));
    t += life + d.delay;
  }
  return out;
}
}  // namespace

TEST_CASE("the defaults: 100 ms, doubling, at most 10 s, reset after 30 s, give up after 20") {
  constexpr crash_loop_policy p{};
  STATIC_REQUIRE(p.first_delay == 100ms);
  STATIC_REQUIRE(p.growth == 2);
  STATIC_REQUIRE(p.max_delay == 10s);
  STATIC_REQUIRE(p.jitter_percent == 20);
  STATIC_REQUIRE(p.stable_uptime == 30s);
  STATIC_REQUIRE(p.give_up_after == 20);
  STATIC_REQUIRE(cluster::restart_backoff::policy == p);
}

TEST_CASE("a worker dying young again and again waits longer each time, up to the cap") {
  crash_loop c({.jitter_percent = 0});
  auto const w = waits(c, 12, 5ms);
  std::vector<std::chrono::milliseconds> const expected{
      0ms, 100ms, 200ms, 400ms, 800ms, 1600ms, 3200ms, 6400ms, 10000ms, 10000ms, 10000ms, 10000ms};
  CHECK(w == expected);
}

TEST_CASE("the jitter only shortens a wait, by at most its share, and spreads the waits") {
  crash_loop c({.jitter_percent = 20}, 42);
  std::vector<std::chrono::milliseconds> seen;
  for (int i = 0; i < 200; ++i) {
    auto const d = std::chrono::duration_cast<std::chrono::milliseconds>(c.wait(9));
    REQUIRE(d <= 10000ms);
    REQUIRE(d >= 8000ms);
    seen.push_back(d);
  }
  std::sort(seen.begin(), seen.end());
  // Not bunched: the 200 draws cover most of the range.
  CHECK(seen.back() - seen.front() >= 1500ms);
  SECTION("the same seed draws the same waits") {
    crash_loop a({}, 7);
    crash_loop b({}, 7);
    for (int i = 0; i < 20; ++i) CHECK(a.wait(5) == b.wait(5));
  }
}

TEST_CASE("a worker that lived the stable uptime starts its id afresh") {
  crash_loop c({.jitter_percent = 0});
  time_point t{};
  CHECK(c.died(0, t, true, true, t + 1s).delay == 0ms);
  CHECK(c.died(0, t, true, true, t + 1s).delay == 100ms);
  CHECK(c.died(0, t, true, true, t + 1s).delay == 200ms);
  // This one lived 30 s: its death is the first of a new series.
  auto const d = c.died(0, t, true, true, t + 30s);
  CHECK(d.delay == 0ms);
  CHECK(d.in_a_row == 1);
  CHECK(c.died(0, t, true, true, t + 1s).delay == 100ms);
}

TEST_CASE("ids are paced apart: one crashing id does not slow down another") {
  crash_loop c({.jitter_percent = 0});
  time_point t{};
  for (int i = 0; i < 5; ++i) (void)c.died(1, t, true, true, t + 1s);
  CHECK(c.died(0, t, true, true, t + 1s).delay == 0ms);
  CHECK(c.died(1, t, true, true, t + 1s).delay == 1600ms);
}

TEST_CASE("before any worker accepted, nothing waits: a server that cannot start fails fast") {
  crash_loop c({.jitter_percent = 0, .give_up_after = 5});
  time_point t{};
  for (int i = 0; i < 4; ++i) {
    auto const d = c.died(static_cast<unsigned>(i % 2), t, false, false, t + 10ms);
    CHECK(d.delay == 0ms);
    CHECK_FALSE(d.give_up);
  }
  CHECK(c.died(0, t, false, false, t + 10ms).give_up);
}

TEST_CASE("deaths before accepting count in a row per id, and an id that accepts is forgiven") {
  crash_loop c({.give_up_after = 4});
  time_point t{};
  CHECK_FALSE(c.died(0, t, false, true, t).give_up);
  CHECK_FALSE(c.died(1, t, false, true, t).give_up);
  CHECK_FALSE(c.died(0, t, false, true, t).give_up);
  CHECK(c.unready() == 3);
  c.accepted(0);
  CHECK(c.unready() == 1);
  CHECK_FALSE(c.died(1, t, false, true, t).give_up);
  CHECK_FALSE(c.died(1, t, false, true, t).give_up);
  CHECK(c.died(1, t, false, true, t).give_up);
  SECTION("a forgotten id (a shrink) no longer counts") {
    c.forget(1);
    CHECK(c.unready() == 0);
  }
}

TEST_CASE("deaths of workers that served never give up, however many and however fast") {
  crash_loop c({.give_up_after = 3});
  time_point t{};
  for (int i = 0; i < 1000; ++i) REQUIRE_FALSE(c.died(0, t, true, i > 0, t + 1ms).give_up);
}

TEST_CASE("give_up_after 0 never gives up, and max_delay 0 never waits") {
  crash_loop never({.max_delay = 0ms, .give_up_after = 0});
  time_point t{};
  for (int i = 0; i < 100; ++i) {
    auto const d = never.died(0, t, false, true, t + 1ms);
    REQUIRE(d.delay == 0ms);
    REQUIRE_FALSE(d.give_up);
  }
}

//=== in the supervisor ===//

TEST_CASE("the supervisor makes a crashing id wait, and starts it when its wait is over") {
  supervisor s({.jitter_percent = 0});
  time_point t{};
  for (unsigned id : s.grow(2)) s.started(id, static_cast<int>(100 + id), t);
  s.connected(100, t);
  s.connected(101, t);
  supervisor::entry dead;
  // The first death of id 1 is replaced at once, the second waits 100 ms.
  CHECK(s.exited(101, t + 10ms, dead) == outcome::replace);
  s.started(1, 200, t + 10ms);
  s.connected(200, t + 20ms);
  CHECK(s.exited(200, t + 30ms, dead) == outcome::wait);
  CHECK(s.last_death().delay == 100ms);
  CHECK(s.last_death().in_a_row == 2);
  CHECK_FALSE(s.wants(1));
  CHECK(s.next_due() == t + 130ms);
  CHECK(s.due(t + 129ms).empty());
  // The watchdog's view: id 0 serves and id 1 waits as it should.
  CHECK(s.serving());
  CHECK_FALSE(s.all_connected());
  CHECK(s.due(t + 130ms) == std::vector<unsigned>{1});
  CHECK(s.wants(1));
  CHECK_FALSE(s.next_due().has_value());
  CHECK_FALSE(s.serving());  // due, and not started yet
}

TEST_CASE("a shutdown or a shrink cancels the waits") {
  supervisor s({.jitter_percent = 0});
  time_point t{};
  for (unsigned id : s.grow(2)) s.started(id, static_cast<int>(100 + id), t);
  s.connected(100, t);
  supervisor::entry dead;
  REQUIRE(s.exited(101, t, dead) == outcome::replace);
  s.started(1, 201, t);
  REQUIRE(s.exited(201, t, dead) == outcome::wait);
  SECTION("shrink") {
    (void)s.shrink(1, t);
    CHECK_FALSE(s.next_due().has_value());
    CHECK(s.grow(1) == std::vector<unsigned>{1});
    CHECK(s.wants(1));
  }
  SECTION("graceful shutdown") {
    (void)s.begin_graceful(t);
    CHECK_FALSE(s.next_due().has_value());
  }
  SECTION("hard shutdown") {
    CHECK(s.begin_hard());
    CHECK_FALSE(s.next_due().has_value());
  }
}

TEST_CASE("no id serving is not serving, even when every id waits") {
  supervisor s({.jitter_percent = 0});
  time_point t{};
  for (unsigned id : s.grow(1)) s.started(id, 100, t);
  s.connected(100, t);
  supervisor::entry dead;
  REQUIRE(s.exited(100, t, dead) == outcome::replace);
  s.started(0, 101, t);
  REQUIRE(s.exited(101, t, dead) == outcome::wait);
  CHECK_FALSE(s.serving());
}
