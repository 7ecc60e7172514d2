// SPDX-License-Identifier: BSL-1.0
// Recycling on a simulated clock: triggers only nominate; one coordinator replaces at most k
// workers at once, each replacement accepting before the old worker stops, spaced in time.
#include <cluster/master/supervisor.hpp>

#include <catch2/catch.hpp>

#include <vector>

using cluster::detail::recycle;
using cluster::detail::supervisor;
using namespace std::chrono_literals;

namespace {
using time_point = supervisor::clock::time_point;

/// A supervisor with `n` serving workers, pids 100 + id.
supervisor serving(unsigned n, time_point t) {
  supervisor s({}, 60s, 7);
  for (unsigned id : s.grow(n)) {
    s.started(id, static_cast<int>(100 + id), t);
    s.connected(static_cast<int>(100 + id), t);
  }
  return s;
}
}  // namespace

TEST_CASE("a nominated worker is stopped only once its replacement accepts") {
  time_point t{};
  auto s = serving(2, t);
  s.nominate(100, recycle::requests);
  auto act = s.recycle_step(t, 1, 1s);
  REQUIRE(act.spawn == std::optional<unsigned>{0});
  CHECK(act.replacing == 100);
  CHECK(act.stop.empty());
  s.started(0, 200, t);
  // Starting: the old worker serves on.
  act = s.recycle_step(t + 100ms, 1, 1s);
  CHECK(act.stop.empty());
  CHECK_FALSE(act.spawn);
  CHECK_FALSE(s.find(100)->stopping);
  s.connected(200, t + 200ms);
  act = s.recycle_step(t + 200ms, 1, 1s);
  CHECK(act.stop == std::vector<int>{100});
  CHECK(s.find(100)->stopping);
  // Its end says why.
  supervisor::entry dead;
  auto const what = s.exited(100, t + 300ms, dead);
  CHECK(what == supervisor::outcome::removed);
  CHECK(s.classify(dead, what, 0, 0, t + 300ms) == cluster::events::exit_reason::max_requests);
  CHECK_FALSE(s.wants(0));  // the replacement holds the id
}

TEST_CASE("at most k replacements at once, and never two starts closer than the spacing") {
  time_point t{};
  auto s = serving(4, t);
  for (int pid = 100; pid < 104; ++pid) s.nominate(pid, recycle::age);
  SECTION("k = 1: the next starts only once the old worker has ended, and the spacing is over") {
    auto act = s.recycle_step(t, 1, 1s);
    REQUIRE(act.spawn == std::optional<unsigned>{0});
    s.started(0, 200, t);
    CHECK_FALSE(s.recycle_step(t + 2s, 1, 1s).spawn);  // 200 has not accepted yet
    s.connected(200, t + 2s);
    act = s.recycle_step(t + 2s, 1, 1s);
    CHECK(act.stop == std::vector<int>{100});
    CHECK_FALSE(act.spawn);  // 100 still drains: it is a process beyond the wanted four
    CHECK(s.recycles_under_way() == 1);
    act = s.recycle_step(t + 3s, 1, 1s);
    CHECK(act.stop.empty());
    CHECK_FALSE(act.spawn);
    supervisor::entry dead;
    (void)s.exited(100, t + 4s, dead);
    act = s.recycle_step(t + 4s, 1, 1s);
    CHECK(act.spawn == std::optional<unsigned>{1});
    CHECK(s.recycles_under_way() == 1);
  }
  SECTION("k = 2: two under way, spaced") {
    auto act = s.recycle_step(t, 2, 1s);
    REQUIRE(act.spawn == std::optional<unsigned>{0});
    s.started(0, 200, t);
    CHECK_FALSE(s.recycle_step(t + 500ms, 2, 1s).spawn);  // the spacing
    act = s.recycle_step(t + 1s, 2, 1s);
    REQUIRE(act.spawn == std::optional<unsigned>{1});
    s.started(1, 201, t + 1s);
    CHECK(s.recycles_under_way() == 2);
    CHECK_FALSE(s.recycle_step(t + 5s, 2, 1s).spawn);  // two under way: no third
  }
}

TEST_CASE("a replacement that dies before it accepts leaves the old worker serving") {
  time_point t{};
  auto s = serving(1, t);
  s.nominate(100, recycle::memory);
  REQUIRE(s.recycle_step(t, 1, 1s).spawn);
  s.started(0, 200, t);
  supervisor::entry dead;
  (void)s.exited(200, t + 10ms, dead);
  auto const act = s.recycle_step(t + 20ms, 1, 1s);
  CHECK(act.stop.empty());
  CHECK_FALSE(act.spawn);
  CHECK_FALSE(s.find(100)->stopping);
  CHECK(s.recycles_under_way() == 0);
  // It may be nominated again, and is recycled after the spacing.
  s.nominate(100, recycle::memory);
  CHECK_FALSE(s.recycle_step(t + 500ms, 1, 1s).spawn);
  CHECK(s.recycle_step(t + 1s, 1, 1s).spawn == std::optional<unsigned>{0});
}

TEST_CASE("an old worker that dies during its recycle is not replaced twice") {
  time_point t{};
  auto s = serving(1, t);
  s.nominate(100, recycle::requests);
  REQUIRE(s.recycle_step(t, 1, 1s).spawn);
  s.started(0, 200, t);
  supervisor::entry dead;
  CHECK(s.exited(100, t + 10ms, dead) == supervisor::outcome::replace);
  CHECK_FALSE(s.wants(0));  // the replacement has the id
  s.connected(200, t + 20ms);
  auto const act = s.recycle_step(t + 20ms, 1, 1s);
  CHECK(act.stop.empty());
  CHECK(s.recycles_under_way() == 0);
}

TEST_CASE("nothing is recycled during a rolling restart, a crash loop's wait or a shutdown") {
  time_point t{};
  auto s = serving(2, t);
  SECTION("a roll drops the nominations and refuses new ones") {
    s.nominate(100, recycle::age);
    REQUIRE(s.begin_roll());
    CHECK_FALSE(s.recycle_step(t, 1, 1s).spawn);
    s.nominate(101, recycle::age);
    CHECK_FALSE(s.recycling());
  }
  SECTION("an id waiting out a crash loop's delay: capacity is short already") {
    supervisor::entry dead;
    REQUIRE(s.exited(101, t, dead) == supervisor::outcome::replace);
    s.started(1, 201, t);
    s.connected(201, t);
    REQUIRE(s.exited(201, t + 10ms, dead) == supervisor::outcome::wait);
    s.nominate(100, recycle::age);
    CHECK_FALSE(s.recycle_step(t + 20ms, 1, 1s).spawn);
    CHECK(s.recycling());  // it waits its turn
  }
  SECTION("a shutdown") {
    s.nominate(100, recycle::age);
    (void)s.begin_graceful(t);
    CHECK_FALSE(s.recycle_step(t, 1, 1s).spawn);
  }
  SECTION("a worker not serving yet, or stopping, is not nominated") {
    (void)s.shrink(1, t);
    s.nominate(101, recycle::age);
    CHECK_FALSE(s.recycling());
  }
}

TEST_CASE("each worker's limits come a little sooner, by its own jitter, at most a tenth") {
  time_point t{};
  auto s = serving(50, t);
  std::vector<unsigned> limits;
  for (auto const& [pid, w] : s.workers()) {
    auto const limit = supervisor::jittered(10000U, w);
    CHECK(limit <= 10000U);
    CHECK(limit >= 9000U);
    limits.push_back(limit);
    auto const age = supervisor::jittered(supervisor::clock::duration(60s), w);
    CHECK(age <= 60s);
    CHECK(age >= 54s);
  }
  std::sort(limits.begin(), limits.end());
  CHECK(limits.back() - limits.front() > 500);  // spread, not all equal
}
