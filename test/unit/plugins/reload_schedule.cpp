// SPDX-License-Identifier: BSL-1.0
// The reload plugin's decisions on a simulated clock: a burst is one reload, changes during a
// reload are one more, and reloads are never closer than the minimum interval.
#include <cluster/plugins/reload/schedule.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace std::chrono_literals;
using cluster::detail::reload_kind;
using cluster::detail::reload_schedule;

namespace {
using time_point = reload_schedule::clock::time_point;
constexpr time_point t0{};
}  // namespace

TEST_CASE("fifty writes within a second are one reload, after the quiet period that follows") {
  reload_schedule s(300ms, 2s);
  CHECK_FALSE(s.due());
  int reloads = 0;
  // A write every 20 ms for a second; the clock is checked every 10 ms, as a timer would be.
  for (auto now = t0; now <= t0 + 3s; now += 10ms) {
    auto const since = now - t0;
    if (since < 1s && since % 20ms == 0ms)
      s.changed("/srv/app/templates/" + std::to_string(since / 20ms) + ".html",
                reload_kind::workers, now);
    if (auto r = s.take(now)) {
      ++reloads;
      CHECK(r->what == reload_kind::workers);
      CHECK(r->path == "/srv/app/templates/0.html");
      CHECK(r->changes == 50);
      // Not before the last write (at 980 ms) plus the quiet period.
      CHECK(now == t0 + 980ms + 300ms);
      s.finished();
    }
  }
  CHECK(reloads == 1);
  CHECK_FALSE(s.due());
}

TEST_CASE("changes during a reload lead to one more after it, however many") {
  reload_schedule s(100ms, 0ms);
  s.changed("/srv/app/a.json", reload_kind::workers, t0);
  auto first = s.take(t0 + 100ms);
  REQUIRE(first);
  CHECK(s.running());
  for (int i = 0; i < 20; ++i)
    s.changed("/srv/app/b" + std::to_string(i) + ".json", reload_kind::workers, t0 + 200ms);
  // Not while it runs, however long.
  CHECK_FALSE(s.due());
  CHECK_FALSE(s.take(t0 + 10s));
  s.finished();
  auto second = s.take(t0 + 10s);
  REQUIRE(second);
  CHECK(second->path == "/srv/app/b0.json");
  CHECK(second->changes == 20);
  s.finished();
  CHECK_FALSE(s.take(t0 + 20s));
}

TEST_CASE("reloads are never closer together than the minimum interval") {
  reload_schedule s(100ms, 5s);
  // A file rewritten every 500 ms for ever (a log in the watched tree by mistake).
  std::vector<time_point> started;
  for (auto now = t0; now <= t0 + 20s; now += 50ms) {
    if ((now - t0) % 500ms == 0ms) s.changed("/srv/app/out.log", reload_kind::workers, now);
    if (auto r = s.take(now)) {
      started.push_back(now);
      s.finished();
    }
  }
  REQUIRE(started.size() >= 2);
  for (std::size_t i = 1; i < started.size(); ++i) CHECK(started[i] - started[i - 1] >= 5s);
  CHECK(started.size() <= 5);
}

TEST_CASE("a new executable among the changes makes the reload a master restart") {
  reload_schedule s(100ms, 0ms);
  s.changed("/srv/app/templates/page.html", reload_kind::workers, t0);
  s.changed("/srv/app/server", reload_kind::master, t0 + 10ms);
  s.changed("/srv/app/config.json", reload_kind::workers, t0 + 20ms);
  s.changed("/srv/app/ignored", reload_kind::none, t0 + 30ms);
  CHECK(s.pending() == 3);
  auto const r = s.take(t0 + 120ms);
  REQUIRE(r);
  CHECK(r->what == reload_kind::master);
  CHECK(r->path == "/srv/app/templates/page.html");
  CHECK(r->changes == 3);
  CHECK(s.pending() == 0);
}
