// SPDX-License-Identifier: BSL-1.0
// The master's decisions on a simulated clock: replace, remove, shut down, give up, kill.
#include <cluster/master/supervisor.hpp>

#include <catch2/catch.hpp>

using cluster::master_state;
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
  supervisor s{};
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
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(3), t);
  CHECK(s.shrink(2, t) == std::vector<int>{102, 101});
  CHECK(s.target() == 1);
  supervisor::entry dead;
  CHECK(s.exited(102, t, dead) == outcome::removed);
  CHECK(s.exited(101, t, dead) == outcome::removed);
  SECTION("growing again reuses the freed ids") { CHECK(s.grow(1) == std::vector<unsigned>{1}); }
  SECTION("never below zero") {
    CHECK(s.shrink(5, t) == std::vector<int>{100});
    CHECK(s.target() == 0);
  }
}

TEST_CASE("a graceful shutdown stops every worker once and replaces none") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(2), t);
  auto const removed = s.shrink(1, t);  // already stopping: not asked twice
  CHECK(s.begin_graceful(t) == std::vector<int>{100});
  CHECK(s.state() == master_state::graceful_shutdown);
  CHECK(s.begin_graceful(t).empty());
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
  supervisor s({.give_up_after = 5});
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

TEST_CASE("workers that die now and then, after serving a while, are replaced at once") {
  supervisor s({.give_up_after = 5});
  supervisor::clock::time_point t{};
  start_all(s, s.grow(1), t);
  supervisor::entry dead;
  int pid = 100;
  for (int i = 1; i <= 50; ++i) {
    s.connected(pid, t + (i - 1) * 31s);
    REQUIRE(s.exited(pid, t + i * 31s, dead) == outcome::replace);
    s.started(0, ++pid, t + i * 31s);
  }
}

namespace {
/// The death of `pid` at `t`, its replacement (with `next`) started when its wait, if any, is
/// over; returns the outcome and the time the replacement started.
std::pair<outcome, supervisor::clock::time_point> die_and_replace(supervisor& s, int pid, int next,
                                                                  supervisor::clock::time_point t) {
  supervisor::entry dead;
  auto const what = s.exited(pid, t, dead);
  if (what == outcome::wait) {
    t = *s.next_due();
    REQUIRE(s.due(t) == std::vector<unsigned>{dead.id});
  }
  if (what == outcome::replace || what == outcome::wait) s.started(dead.id, next, t);
  return {what, t};
}
}  // namespace

TEST_CASE("after boot, only workers that never came up count towards giving up") {
  supervisor::clock::time_point const boot{};
  supervisor s({.give_up_after = 5});
  auto t = boot + 1h;
  start_all(s, s.grow(1), t);
  int pid = 100;
  SECTION("serving workers that crash fast (a poisoned request) are always replaced") {
    for (int i = 0; i < 50; ++i) {
      s.connected(pid, t);
      auto const [what, at] = die_and_replace(s, pid, pid + 1, t + 10ms);
      REQUIRE((what == outcome::replace || what == outcome::wait));
      ++pid;
      t = at;
    }
  }
  SECTION("workers that fail before they come up still give up") {
    s.connected(pid, t);
    (void)die_and_replace(s, pid, pid + 1, t + 10ms);
    ++pid;
    for (int i = 0; i < 4; ++i) {
      auto const [what, at] = die_and_replace(s, pid, pid + 1, t + 10ms);
      REQUIRE((what == outcome::replace || what == outcome::wait));
      ++pid;
      t = at;
    }
    supervisor::entry dead;
    CHECK(s.exited(pid, t + 50ms, dead) == outcome::give_up);
  }
}

TEST_CASE("right after boot too, serving workers that die are replaced: kills do not give up") {
  // The original gave up after 20 deaths in the first 20 s whatever they were: the OOM killer or
  // an operator killing serving workers then stopped the whole service.
  supervisor::clock::time_point t{};
  supervisor s({.give_up_after = 5});
  start_all(s, s.grow(1), t);
  int pid = 100;
  for (int i = 0; i < 50; ++i) {
    s.connected(pid, t);
    auto const [what, at] = die_and_replace(s, pid, pid + 1, t + 10ms);
    REQUIRE((what == outcome::replace || what == outcome::wait));
    ++pid;
    t = at;
  }
  // A worker that fails before it comes up still counts.
  for (int i = 0; i < 4; ++i) {
    auto const [what, at] = die_and_replace(s, pid, pid + 1, t + 10ms);
    REQUIRE((what == outcome::replace || what == outcome::wait));
    ++pid;
    t = at;
  }
  supervisor::entry dead;
  CHECK(s.exited(pid, t + 1s, dead) == outcome::give_up);
}

//=== graceful-stop timeouts ===//

TEST_CASE("a stopping worker is killed once, exactly when its timeout is over") {
  supervisor::clock::time_point const t{};
  supervisor s({}, 300ms);
  start_all(s, s.grow(2), t);
  REQUIRE(s.shrink(1, t + 1s) == std::vector<int>{101});
  CHECK(s.next_deadline() == t + 1300ms);
  CHECK(s.overdue(t + 1299ms).empty());
  CHECK(s.overdue(t + 1300ms) == std::vector<int>{101});
  SECTION("it is not reported again while it dies") {
    CHECK(s.overdue(t + 5s).empty());
    CHECK_FALSE(s.next_deadline());
  }
  SECTION("its death after the kill is a removal, not a replacement") {
    supervisor::entry dead;
    CHECK(s.exited(101, t + 1301ms, dead) == outcome::removed);
    CHECK(dead.overdue);
    CHECK(s.workers().size() == 1);
  }
}

TEST_CASE("a worker that exits within its timeout is never killed") {
  supervisor::clock::time_point const t{};
  supervisor s({}, 300ms);
  start_all(s, s.grow(2), t);
  REQUIRE(s.begin_graceful(t) == std::vector<int>{100, 101});
  supervisor::entry dead;
  CHECK(s.exited(100, t + 299ms, dead) == outcome::shutting_down);
  CHECK(s.overdue(t + 300ms) == std::vector<int>{101});
  CHECK(s.exited(101, t + 301ms, dead) == outcome::shutting_down);
  CHECK(s.overdue(t + 1h).empty());
  CHECK(s.finished());
}

TEST_CASE("workers that are never asked to stop are never overdue") {
  supervisor::clock::time_point const t{};
  supervisor s({}, 300ms);
  start_all(s, s.grow(3), t);
  CHECK(s.overdue(t + 24h).empty());
  CHECK_FALSE(s.next_deadline());
}

TEST_CASE("a graceful shutdown keeps the earlier deadline of a worker already being removed") {
  supervisor::clock::time_point const t{};
  supervisor s({}, 300ms);
  start_all(s, s.grow(2), t);
  REQUIRE(s.shrink(1, t) == std::vector<int>{101});
  REQUIRE(s.begin_graceful(t + 200ms) == std::vector<int>{100});
  CHECK(s.next_deadline() == t + 300ms);
  CHECK(s.overdue(t + 300ms) == std::vector<int>{101});
  CHECK(s.next_deadline() == t + 500ms);
  CHECK(s.overdue(t + 499ms).empty());
  CHECK(s.overdue(t + 500ms) == std::vector<int>{100});
}

TEST_CASE("every stopping worker past its deadline is reported by one check") {
  supervisor::clock::time_point const t{};
  supervisor s({}, 300ms);
  start_all(s, s.grow(3), t);
  REQUIRE(s.begin_graceful(t).size() == 3);
  CHECK(s.overdue(t + 10s) == std::vector<int>{100, 101, 102});
}

TEST_CASE("a hard shutdown leaves no graceful-stop deadline to enforce") {
  supervisor::clock::time_point const t{};
  supervisor s({}, 300ms);
  start_all(s, s.grow(2), t);
  REQUIRE(s.begin_graceful(t).size() == 2);
  REQUIRE(s.begin_hard());
  CHECK(s.overdue(t + 1s).empty());
  CHECK_FALSE(s.next_deadline());
}

//=== signal races ===//

TEST_CASE("SIGQUIT while a replacement is being forked stops the replacement too") {
  supervisor::clock::time_point const t{};
  supervisor s({}, 300ms);
  start_all(s, s.grow(2), t);
  supervisor::entry dead;
  REQUIRE(s.exited(101, t + 1s, dead) == outcome::replace);
  REQUIRE(s.wants(1));
  REQUIRE(s.begin_graceful(t + 1s) == std::vector<int>{100});
  SECTION("the master no longer wants the id") { CHECK_FALSE(s.wants(1)); }
  SECTION("a replacement already forked is stopped at once, with its own deadline") {
    CHECK(s.started(1, 201, t + 2s) == supervisor::verdict::stop);
    CHECK(s.find(201)->stopping);
    CHECK(s.overdue(t + 1300ms) == std::vector<int>{100});
    CHECK(s.overdue(t + 2299ms).empty());
    CHECK(s.overdue(t + 2300ms) == std::vector<int>{201});
    CHECK(s.exited(100, t + 3s, dead) == outcome::shutting_down);
    CHECK(s.exited(201, t + 3s, dead) == outcome::shutting_down);
    CHECK(s.finished());
  }
}

TEST_CASE("SIGTERM while a replacement is being forked kills the replacement") {
  supervisor::clock::time_point const t{};
  supervisor s{};
  start_all(s, s.grow(1), t);
  supervisor::entry dead;
  REQUIRE(s.exited(100, t, dead) == outcome::replace);
  REQUIRE(s.begin_hard());
  CHECK_FALSE(s.wants(0));
  CHECK(s.started(0, 200, t) == supervisor::verdict::kill);
  CHECK_FALSE(s.finished());
  CHECK(s.exited(200, t, dead) == outcome::shutting_down);
  CHECK(s.finished());
}

TEST_CASE("SIGTTOU while a replacement is being forked stops the replacement") {
  supervisor::clock::time_point const t{};
  supervisor s({}, 300ms);
  start_all(s, s.grow(2), t);
  supervisor::entry dead;
  REQUIRE(s.exited(101, t, dead) == outcome::replace);
  CHECK(s.shrink(1, t).empty());  // nothing of id 1 runs yet
  CHECK(s.target() == 1);
  CHECK_FALSE(s.wants(1));
  CHECK(s.started(1, 201, t + 10ms) == supervisor::verdict::stop);
  CHECK(s.overdue(t + 310ms) == std::vector<int>{201});
  CHECK(s.exited(201, t + 400ms, dead) == outcome::removed);
  CHECK(s.state() == master_state::active);
}

TEST_CASE("a worker started while active and wanted is kept") {
  supervisor::clock::time_point const t{};
  supervisor s{};
  auto const ids = s.grow(1);
  CHECK(s.wants(0));
  CHECK(s.started(ids.at(0), 100, t) == supervisor::verdict::keep);
  CHECK_FALSE(s.wants(0));
}

TEST_CASE("the death of a worker being removed by spawn(-1) is not replaced") {
  supervisor::clock::time_point const t{};
  supervisor s({}, 300ms);
  start_all(s, s.grow(2), t);
  REQUIRE(s.shrink(1, t) == std::vector<int>{101});
  supervisor::entry dead;
  SECTION("even when it crashes instead of exiting") {
    CHECK(s.exited(101, t + 10ms, dead) == outcome::removed);
    CHECK(s.workers().size() == 1);
  }
  SECTION("even when its id has been wanted again meanwhile") {
    REQUIRE(s.grow(1) == std::vector<unsigned>{1});
    CHECK(s.wants(1));  // the stopping worker does not hold the id
    CHECK(s.started(1, 201, t + 5ms) == supervisor::verdict::keep);
    CHECK(s.exited(101, t + 10ms, dead) == outcome::removed);
    CHECK(s.find(201) != nullptr);
    CHECK_FALSE(s.find(201)->stopping);
    CHECK(s.overdue(t + 1h).empty());
  }
}

TEST_CASE("SIGTTOU and SIGTTIN during a graceful shutdown change nothing") {
  supervisor::clock::time_point const t{};
  supervisor s({}, 300ms);
  start_all(s, s.grow(2), t);
  REQUIRE(s.begin_graceful(t).size() == 2);
  CHECK(s.shrink(1, t + 100ms).empty());
  CHECK(s.grow(1).empty());
  CHECK(s.target() == 2);
  CHECK(s.state() == master_state::graceful_shutdown);
  CHECK(s.next_deadline() == t + 300ms);  // the deadlines are not pushed back
  supervisor::entry dead;
  CHECK(s.exited(100, t, dead) == outcome::shutting_down);
  CHECK(s.exited(101, t, dead) == outcome::shutting_down);
  CHECK(s.finished());
}

TEST_CASE("SIGTERM during a graceful shutdown escalates to a hard one") {
  supervisor::clock::time_point const t{};
  supervisor s({}, 300ms);
  start_all(s, s.grow(2), t);
  REQUIRE(s.begin_graceful(t).size() == 2);
  CHECK(s.begin_hard());
  CHECK(s.state() == master_state::hard_shutdown);
  CHECK(s.begin_graceful(t).empty());  // SIGQUIT cannot turn it back
  CHECK(s.state() == master_state::hard_shutdown);
  CHECK_FALSE(s.finished());
}

TEST_CASE("a death reported twice, or of an unknown pid, is ignored") {
  supervisor::clock::time_point const t{};
  supervisor s({.give_up_after = 2});
  start_all(s, s.grow(2), t);
  supervisor::entry dead;
  REQUIRE(s.exited(100, t, dead) == outcome::replace);
  CHECK(s.exited(100, t, dead) == outcome::unknown);
  CHECK(s.exited(4242, t, dead) == outcome::unknown);
  CHECK(s.workers().size() == 1);
  CHECK(s.target() == 2);
  // Neither counted towards giving up: with a limit of 2, the next real death is the 2nd.
  s.started(0, 200, t);
  CHECK(s.exited(200, t, dead) == outcome::give_up);
}

TEST_CASE("deaths during a hard shutdown are not replaced; the last one finishes it") {
  supervisor::clock::time_point const t{};
  supervisor s{};
  start_all(s, s.grow(3), t);
  REQUIRE(s.begin_hard());
  supervisor::entry dead;
  CHECK(s.exited(100, t, dead) == outcome::shutting_down);
  CHECK_FALSE(s.finished());
  CHECK(s.exited(102, t, dead) == outcome::shutting_down);
  CHECK_FALSE(s.finished());
  CHECK(s.exited(102, t, dead) == outcome::unknown);
  CHECK_FALSE(s.finished());
  CHECK(s.exited(101, t, dead) == outcome::shutting_down);
  CHECK(s.finished());
  CHECK(s.grow(1).empty());
  CHECK_FALSE(s.wants(0));
}

//=== rolling restart ===//

namespace {
using roll = supervisor::roll_action::status;
}  // namespace

TEST_CASE("a rolling restart replaces each worker before stopping it, one id at a time") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(2), t);
  s.connected(100);
  s.connected(101);
  REQUIRE(s.begin_roll());
  auto a = s.roll_step(t);
  CHECK(a.what == roll::waiting);
  REQUIRE(a.spawn == 0u);
  CHECK(a.stop.empty());
  CHECK(s.started(0, 200, t) == supervisor::verdict::keep);
  // Two workers with id 0 now; the old one serves until the new one accepts.
  CHECK(s.roll_step(t).what == roll::waiting);
  CHECK_FALSE(s.roll_step(t).spawn);
  s.connected(200);
  auto b = s.roll_step(t);
  CHECK(b.stop == std::vector<int>{100});
  REQUIRE(b.spawn == 1u);
  CHECK(s.find(100)->stopping);
  s.started(1, 201, t);
  supervisor::entry dead;
  CHECK(s.exited(100, t, dead) == outcome::removed);
  CHECK_FALSE(s.wants(0));  // the replacement holds the slot
  s.connected(201);
  auto c = s.roll_step(t);
  CHECK(c.what == roll::done);
  CHECK(c.replaced == 2);
  CHECK(c.stop == std::vector<int>{101});
  CHECK_FALSE(s.rolling());
  CHECK(s.roll_step(t).what == roll::idle);
}

TEST_CASE("a replacement that dies before it accepts stops the rolling restart") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(2), t);
  s.connected(100);
  s.connected(101);
  s.begin_roll();
  REQUIRE(s.roll_step(t).spawn == 0u);
  s.started(0, 200, t);
  supervisor::entry dead;
  s.exited(200, t + 1s, dead);
  CHECK_FALSE(s.wants(0));  // the old worker still serves id 0: nothing to start
  auto a = s.roll_step(t + 1s);
  CHECK(a.what == roll::failed);
  CHECK(a.failed_pid == 200);
  CHECK(a.stop.empty());
  CHECK_FALSE(s.find(100)->stopping);
  CHECK_FALSE(s.rolling());
}

TEST_CASE("asking again during a rolling restart runs one more pass, not one per request") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(1), t);
  s.connected(100);
  s.begin_roll();
  REQUIRE(s.roll_step(t).spawn == 0u);
  s.begin_roll();
  s.begin_roll();
  s.started(0, 200, t);
  s.connected(200);
  auto a = s.roll_step(t);
  CHECK(a.stop == std::vector<int>{100});
  REQUIRE(a.spawn == 0u);  // the second pass
  s.started(0, 300, t);
  s.connected(300);
  auto b = s.roll_step(t);
  CHECK(b.what == roll::done);
  CHECK(b.stop == std::vector<int>{200});
}

TEST_CASE("a shutdown cancels a rolling restart; a shrink skips the removed ids") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(3), t);
  for (int pid : {100, 101, 102}) s.connected(pid);
  s.begin_roll();
  REQUIRE(s.roll_step(t).spawn == 0u);
  s.started(0, 200, t);
  SECTION("shrink") {
    s.shrink(2, t);  // ids 1 and 2 go
    s.connected(200);
    auto a = s.roll_step(t);
    CHECK(a.what == roll::done);
    CHECK(a.stop == std::vector<int>{100});
  }
  SECTION("graceful shutdown") {
    s.begin_graceful(t);
    CHECK_FALSE(s.rolling());
    CHECK(s.roll_step(t).what == roll::idle);
    CHECK_FALSE(s.begin_roll());
  }
}

TEST_CASE("all_connected needs one accepting, non-stopping worker per wanted id") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(2), t);
  CHECK_FALSE(s.all_connected());
  s.connected(100);
  CHECK_FALSE(s.all_connected());
  s.connected(101);
  CHECK(s.all_connected());
  s.shrink(1, t);
  CHECK(s.all_connected());
  s.begin_graceful(t);
  CHECK_FALSE(s.all_connected());
}

//=== why a worker ended: the one classification every plugin sees ===//

namespace {
using reason = cluster::events::exit_reason;

/// Reaps `pid` as the master does: `exited`, then `classify` with its status.
std::pair<outcome, reason> reap(supervisor& s, int pid, supervisor::clock::time_point t,
                                int code = 0, int signal = 0) {
  supervisor::entry dead;
  auto const what = s.exited(pid, t, dead);
  return {what, s.classify(dead, what, code, signal, t)};
}
}  // namespace

TEST_CASE("a death while wanted is a crash, or an exit with status 0; both are replaced") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(2), t);
  s.connected(100);
  s.connected(101);
  CHECK(reap(s, 100, t + 30s, 0, 9) == std::pair{outcome::replace, reason::crashed});
  CHECK(reap(s, 101, t + 30s, 3, 0) == std::pair{outcome::replace, reason::crashed});
  s.started(0, 200, t + 31s);
  CHECK(reap(s, 200, t + 32s, 0, 0) == std::pair{outcome::replace, reason::exited});
}

TEST_CASE("a death by the signal the master's kill() sent is killed, not a crash") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(2), t);
  s.signalled(15);
  CHECK(reap(s, 100, t + 30s, 0, 15) == std::pair{outcome::replace, reason::killed});
  // Another signal than the one sent is still a crash.
  CHECK(reap(s, 101, t + 30s, 0, 11) == std::pair{outcome::replace, reason::crashed});
  // A worker started after the kill() was not signalled.
  s.started(0, 200, t + 31s);
  CHECK(reap(s, 200, t + 40s, 0, 15) == std::pair{outcome::replace, reason::crashed});
}

TEST_CASE("stopped by a rolling restart, removed by a shrink, ended by a shutdown") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(3), t);
  for (int pid : {100, 101, 102}) s.connected(pid);
  SECTION("rolling restart") {
    REQUIRE(s.begin_roll());
    auto act = s.roll_step(t);
    REQUIRE(act.spawn == 0u);
    s.started(0, 200, t);
    s.connected(200);
    act = s.roll_step(t);
    REQUIRE(act.stop == std::vector<int>{100});
    CHECK(reap(s, 100, t + 1s) == std::pair{outcome::removed, reason::stopped});
  }
  SECTION("shrink") {
    REQUIRE(s.shrink(1, t) == std::vector<int>{102});
    CHECK(reap(s, 102, t + 1s) == std::pair{outcome::removed, reason::removed});
  }
  SECTION("shutdown") {
    s.begin_graceful(t);
    CHECK(reap(s, 101, t + 1s) == std::pair{outcome::shutting_down, reason::shutdown});
    SECTION("a worker killed after timeout says so, in a shutdown too") {
      REQUIRE(s.overdue(t + 61s) == std::vector<int>{100, 102});
      CHECK(reap(s, 100, t + 61s, 0, 9) == std::pair{outcome::shutting_down, reason::timed_out});
    }
  }
}

TEST_CASE("the death that makes the master give up says so") {
  supervisor s({.give_up_after = 3});
  supervisor::clock::time_point t{};
  start_all(s, s.grow(1), t);
  CHECK(reap(s, 100, t + 1s, 1).second == reason::crashed);
  s.started(0, 101, t + 1s);
  CHECK(reap(s, 101, t + 2s, 1).second == reason::crashed);
  s.started(0, 102, t + 2s);
  CHECK(reap(s, 102, t + 3s, 1) == std::pair{outcome::give_up, reason::gave_up});
}

TEST_CASE("each id counts its generations and remembers how its last process ended") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(2), t);
  CHECK(s.find(100)->generation == 1);
  CHECK(s.last_exit(0) == nullptr);
  reap(s, 100, t + 30s, 0, 9);
  s.started(0, 200, t + 30s);
  CHECK(s.find(200)->generation == 2);
  CHECK(s.find(101)->generation == 1);
  auto const* last = s.last_exit(0);
  REQUIRE(last != nullptr);
  CHECK(last->pid == 100);
  CHECK(last->signal == 9);
  CHECK(last->reason == reason::crashed);
  CHECK(last->at == t + 30s);
}

//=== liveness ===//

using cluster::detail::hang;
using cluster::detail::liveness;

TEST_CASE("a worker whose loop stops beating is hung after the liveness timeout, not before") {
  liveness l(1s, 0s);
  liveness::clock::time_point const t0{};
  auto const connected = t0 + 100ms;
  // Beats every 250 ms until 2 s, then none: the check runs every 500 ms.
  for (auto now = t0; now <= t0 + 5s; now += liveness::check_interval) {
    l.tick(now);
    auto const beat = std::min(now, t0 + 2s);
    auto const verdict = l.judge(t0, connected, beat, now);
    if (now - (t0 + 2s) >= 1s) {
      CHECK(verdict == hang::no_heartbeat);
    } else {
      CHECK(verdict == hang::none);
    }
  }
}

TEST_CASE("a worker is not hung before its first beat, nor just after it connected") {
  liveness l(1s, 0s);
  liveness::clock::time_point const t0{};
  l.tick(t0 + 10s);
  // No slot, or a slot not yet beaten in: nothing to judge by.
  CHECK(l.judge(t0, t0 + 9s, std::nullopt, t0 + 10s) == hang::none);
  // An old beat from before it connected does not count against it.
  CHECK(l.judge(t0, t0 + 9500ms, t0 + 1s, t0 + 10s) == hang::none);
  CHECK(l.judge(t0, t0 + 9s, t0 + 1s, t0 + 10s) == hang::no_heartbeat);
}

TEST_CASE("a worker that never accepts is hung after the boot timeout") {
  liveness l(0s, 3s);
  liveness::clock::time_point const t0{};
  for (auto now = t0; now < t0 + 3s; now += liveness::check_interval) {
    l.tick(now);
    CHECK(l.judge(t0, std::nullopt, std::nullopt, now) == hang::none);
  }
  l.tick(t0 + 3s);
  CHECK(l.judge(t0, std::nullopt, std::nullopt, t0 + 3s) == hang::never_accepted);
  // Once it accepts, boot is over; with the heartbeat check off, nothing more is judged.
  CHECK(l.judge(t0, t0 + 1s, std::nullopt, t0 + 60s) == hang::none);
  CHECK(l.judge(t0, t0 + 1s, t0 + 1s, t0 + 60s) == hang::none);
}

TEST_CASE("time the master itself did not run counts against no worker") {
  liveness l(1s, 3s);
  liveness::clock::time_point const t0{};
  l.tick(t0);
  l.tick(t0 + 500ms);
  // Stopped for 10 s (SIGSTOP with its workers, as Ctrl-Z does): the next tick is late, and the
  // stale beats and the long boot are not held against the workers.
  auto const resumed = t0 + 10500ms;
  l.tick(resumed);
  CHECK(l.judge(t0, t0 + 100ms, t0 + 500ms, resumed) == hang::none);
  CHECK(l.judge(t0, std::nullopt, std::nullopt, resumed) == hang::none);
  // Their clocks run again from the resumption.
  l.tick(resumed + 500ms);
  CHECK(l.judge(t0, t0 + 100ms, t0 + 500ms, resumed + 500ms) == hang::none);
  l.tick(resumed + 1s);
  CHECK(l.judge(t0, t0 + 100ms, t0 + 500ms, resumed + 1s) == hang::no_heartbeat);
  CHECK(l.judge(t0, std::nullopt, std::nullopt, resumed + 1s) == hang::none);
  for (auto now = resumed + 1500ms; now <= resumed + 3s; now += liveness::check_interval)
    l.tick(now);
  CHECK(l.judge(t0, std::nullopt, std::nullopt, resumed + 3s) == hang::never_accepted);
}

TEST_CASE("a synchronous handler in a request with a deadline is judged by that deadline") {
  liveness l(1s, 0s);
  liveness::clock::time_point const t0{};
  auto const connected = t0 + 100ms;
  auto const entered = t0 + 1s;  // the loop's last beat: the handler holds it from here
  for (auto now = t0 + 1s; now <= t0 + 6s; now += liveness::check_interval) {
    l.tick(now);
    auto const loop = l.judge(t0, connected, entered, now);
    CHECK(loop == (now - entered >= 1s ? hang::no_heartbeat : hang::none));
    // A long route's 4 s: not hung while within it, whatever the liveness timeout says...
    CHECK(l.judge_request(loop, entered, 4s, now) ==
          (now - entered >= 4s ? hang::past_deadline : hang::none));
    // ...and a deadline shorter than the liveness timeout ends it sooner.
    CHECK(l.judge_request(loop, entered, 500ms, now) ==
          (now - entered >= 500ms ? hang::past_deadline : hang::none));
    // Without a deadline (a route that has none, an asynchronous handler), the liveness check.
    CHECK(l.judge_request(loop, entered, 0s, now) == loop);
    CHECK(l.judge_request(loop, std::nullopt, 4s, now) == loop);
  }
  // Boot is judged before any request.
  CHECK(l.judge_request(hang::never_accepted, entered, 4s, t0 + 2s) == hang::never_accepted);
}

TEST_CASE("a request's deadline does not count the time the master did not run") {
  liveness l(1s, 0s);
  liveness::clock::time_point const t0{};
  l.tick(t0);
  auto const entered = t0 + 100ms;
  auto const resumed = t0 + 20s;  // the master was stopped meanwhile
  l.tick(resumed);
  CHECK(l.judge_request(hang::none, entered, 4s, resumed) == hang::none);
  l.tick(resumed + 500ms);
  CHECK(l.judge_request(hang::none, entered, 4s, resumed + 3500ms) == hang::none);
  CHECK(l.judge_request(hang::none, entered, 4s, resumed + 4s) == hang::past_deadline);
}

TEST_CASE("both checks off: the master does not tick at all") {
  CHECK_FALSE(liveness(0s, 0s).enabled());
  CHECK(liveness(1s, 0s).enabled());
  CHECK(liveness(0s, 1s).enabled());
}

TEST_CASE("a hung worker is replaced, and its death says why") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(2), t);
  s.connected(100, t + 1s);
  CHECK(s.find(100)->connected_at == t + 1s);
  s.hung(100, hang::no_heartbeat);
  s.hung(101, hang::never_accepted);
  supervisor::entry dead;
  auto const first = s.exited(100, t + 40s, dead);
  CHECK(first == outcome::replace);
  CHECK(s.classify(dead, first, 0, 9, t + 40s) == cluster::events::exit_reason::hung);
  auto const second = s.exited(101, t + 40s, dead);
  CHECK(second == outcome::replace);
  CHECK(s.classify(dead, second, 0, 9, t + 40s) == cluster::events::exit_reason::boot_timeout);
}

TEST_CASE("workers that never accept count towards giving up; hung serving ones do not") {
  supervisor s({.give_up_after = 3});
  supervisor::clock::time_point t{};
  start_all(s, s.grow(1), t);
  int pid = 100;
  for (int i = 0; i < 5; ++i) {
    s.connected(pid, t);
    s.hung(pid, hang::no_heartbeat);
    auto const [what, at] = die_and_replace(s, pid, pid + 1, t + 1s);
    CHECK((what == outcome::replace || what == outcome::wait));
    ++pid;
    t = at;
  }
  for (int i = 0; i < 2; ++i) {
    s.hung(pid, hang::never_accepted);
    auto const [what, at] = die_and_replace(s, pid, pid + 1, t + 1s);
    CHECK((what == outcome::replace || what == outcome::wait));
    ++pid;
    t = at;
  }
  s.hung(pid, hang::never_accepted);
  supervisor::entry dead;
  CHECK(s.exited(pid, t + 1s, dead) == outcome::give_up);
}

TEST_CASE("a worker killed past a request's deadline is replaced, and its death says why") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(1), t);
  s.connected(100, t);
  s.hung(100, hang::past_deadline);
  supervisor::entry dead;
  auto const what = s.exited(100, t + 40s, dead, 0, 9);
  CHECK(what == outcome::replace);
  CHECK(s.classify(dead, what, 0, 9, t + 40s) == cluster::events::exit_reason::deadline);
}

TEST_CASE("the master's running time starts again where it resumed") {
  liveness l(1s, 0s);
  liveness::clock::time_point const t0{};
  CHECK(l.running_since() == liveness::clock::time_point{});
  l.tick(t0 + 1s);
  l.tick(t0 + 5s);  // paused in between
  CHECK(l.running_since() == t0 + 5s);
}

TEST_CASE("a master paused before its first check is seen as paused too") {
  liveness l(1s, 0s);
  liveness::clock::time_point const t0{};
  l.tick(t0);  // the master starts its check
  l.tick(t0 + 3s);
  CHECK(l.judge(t0, t0 + 10ms, t0 + 20ms, t0 + 3s) == hang::none);
}

TEST_CASE("a worker that exits with the fatal status stops the master, unless it was a roll's") {
  supervisor s{};
  supervisor::clock::time_point t{};
  start_all(s, s.grow(2), t);
  supervisor::entry dead;
  SECTION("a serving worker, or one that never served") {
    s.connected(100, t);
    auto const what = s.exited(100, t + 1s, dead, cluster::fatal_exit_code, 0);
    CHECK(what == outcome::fatal);
    CHECK(s.classify(dead, what, cluster::fatal_exit_code, 0, t + 1s) ==
          cluster::events::exit_reason::gave_up);
    CHECK(s.exited(101, t + 1s, dead, cluster::fatal_exit_code, 0) == outcome::fatal);
  }
  SECTION("killed by signal 78 is not the fatal status") {
    CHECK(s.exited(100, t + 1s, dead, 0, cluster::fatal_exit_code) == outcome::replace);
  }
  SECTION("a rolling restart's replacement: the roll fails, the old workers serve on") {
    s.connected(100, t);
    s.connected(101, t);
    REQUIRE(s.begin_roll());
    auto const act = s.roll_step(t);
    REQUIRE(act.spawn == std::optional<unsigned>{0});
    s.started(0, 200, t);
    CHECK(s.exited(200, t + 1s, dead, cluster::fatal_exit_code, 0) == outcome::replace);
    CHECK(s.roll_step(t + 1s).what == supervisor::roll_action::status::failed);
  }
}
