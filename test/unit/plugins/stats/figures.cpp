// SPDX-License-Identifier: BSL-1.0
// The stats plugin's figures as text: the report and the Prometheus text, from made-up figures.
#include "../../../support/prometheus_text.hpp"

#include <cluster/plugins/stats/figures.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <string>

namespace st = cluster::detail::statistics;
using cluster::testing::check_prometheus;

namespace {

st::figures sample_figures(bool counters) {
  st::figures f;
  f.master_pid = 4242;
  f.environment = "pro\"duction";
  f.service_start_s = 1714560000.5;
  f.master_start_s = 1714563600.25;
  f.service_uptime_s = 3723;
  f.master_uptime_s = 123;
  f.workers = 2;
  f.deaths = 3;
  f.exits[static_cast<std::size_t>(cluster::events::exit_reason::crashed)] = 2;
  f.exits[static_cast<std::size_t>(cluster::events::exit_reason::boot_timeout)] = 1;
  f.rolling_restarts = 1;
  f.master_restarts = 1;
  f.load = std::array<double, 3>{0.5, 0.25, 1.75};
  f.rss = 12ULL * 1024 * 1024;
  f.start_rss = 11ULL * 1024 * 1024;
  f.connections = counters;
  f.requests = counters;
  f.per_worker.push_back({0, 101, 3700.25, true, 2, 5, 15});
  f.per_worker.push_back({1, 102, 5, true, 0, 1, 0});
  f.per_worker.push_back({1, 103, 0.5, false, 0, 0, 0});  // a replacement, without a slot
  return f;
}

}  // namespace

TEST_CASE("the Prometheus text is valid and carries every figure") {
  auto const text = st::render_prometheus(sample_figures(true));
  auto const check = check_prometheus(text);
  INFO(text);
  for (auto const& p : check.problems) UNSCOPED_INFO(p);
  REQUIRE(check.ok());
  CHECK(check.value("cluster_workers") == 2);
  CHECK(check.value("cluster_worker_deaths_total") == 3);
  // Every reason has a sample, in the label's spelling (no spaces), zeros included.
  CHECK(check.all("cluster_worker_exits_total").size() == cluster::events::exit_reason_count);
  CHECK(check.value("cluster_worker_exits_total", {{"reason", "crashed"}}) == 2);
  CHECK(check.value("cluster_worker_exits_total", {{"reason", "boot_timeout"}}) == 1);
  CHECK(check.value("cluster_worker_exits_total", {{"reason", "gave_up"}}) == 0);
  CHECK(check.value("cluster_rolling_restarts_total") == 1);
  CHECK(check.value("cluster_master_restarts_total") == 1);
  CHECK(check.value("cluster_start_time_seconds") == Approx(1714560000.5));
  CHECK(check.value("cluster_master_start_time_seconds") == Approx(1714563600.25));
  CHECK(check.value("cluster_load_average", {{"period", "15m"}}) == Approx(1.75));
  CHECK(check.value("cluster_master_resident_memory_bytes") == 12 * 1024 * 1024);
  CHECK(check.value("cluster_master_state", {{"state", "active"}}) == 1);
  CHECK(check.value("cluster_master_state", {{"state", "hard_shutdown"}}) == 0);
  CHECK(check.value("cluster_master_info", {{"pid", "4242"}, {"environment", "pro\"duction"}}) ==
        1);
  CHECK(check.value("cluster_worker_requests_total", {{"worker", "0"}, {"pid", "101"}}) == 15);
  CHECK(check.value("cluster_worker_connections_total", {{"worker", "0"}, {"pid", "101"}}) == 5);
  CHECK(check.value("cluster_worker_connections_active", {{"worker", "0"}, {"pid", "101"}}) == 2);
  CHECK(check.value("cluster_worker_uptime_seconds", {{"worker", "0"}, {"pid", "101"}}) ==
        Approx(3700.25));
  // Two processes with one id (a rolling restart) are two series; one without a slot has no
  // counters rather than false zeros.
  CHECK(check.all("cluster_worker_uptime_seconds").size() == 3);
  CHECK(check.all("cluster_worker_requests_total").size() == 2);
}

TEST_CASE("without counting, the Prometheus text has no counter families") {
  auto const text = st::render_prometheus(sample_figures(false));
  auto const check = check_prometheus(text);
  REQUIRE(check.ok());
  CHECK(text.find("cluster_worker_requests_total") == std::string::npos);
  CHECK(text.find("cluster_worker_connections") == std::string::npos);
  CHECK(check.all("cluster_worker_uptime_seconds").size() == 3);
}

TEST_CASE("the validator refuses what the format forbids") {
  auto bad = [](std::string const& text) { return !check_prometheus(text).ok(); };
  std::string const good = "# HELP a_total x\n# TYPE a_total counter\na_total{w=\"0\"} 1\n";
  REQUIRE_FALSE(bad(good));
  CHECK(bad("# HELP a x\n# TYPE a counter\na 1\n"));     // counter not _total
  CHECK(bad("a 1\n# HELP a x\n# TYPE a gauge\n"));       // sample first
  CHECK(bad("# HELP a x\na 1\n"));                       // no TYPE
  CHECK(bad("# HELP a x\n# TYPE a gauge\na 1\na 2\n"));  // duplicate series
  CHECK(bad("# HELP a x\n# TYPE a gauge\na{w=\"0\",v=\"1\"} 1\na{v=\"1\",w=\"0\"} 2\n"));
  CHECK(bad("# HELP 0a x\n# TYPE 0a gauge\n0a 1\n"));               // bad name
  CHECK(bad("# HELP a x\n# TYPE a gauge\na{0w=\"0\"} 1\n"));        // bad label name
  CHECK(bad("# HELP a x\n# TYPE a gauge\na{w=0} 1\n"));             // unquoted
  CHECK(bad("# HELP a x\n# TYPE a gauge\na{w=\"0\"}1\n"));          // no space
  CHECK(bad("# HELP a x\n# TYPE a gauge\na one\n"));                // bad value
  CHECK(bad("# HELP a x\n# TYPE a gauge\na 1"));                    // no final newline
  CHECK(bad("# HELP a x\n# TYPE a gauge\n\na 1\n"));                // blank line
  CHECK(bad("# HELP a x\n# TYPE a gauge\n# TYPE a gauge\na 1\n"));  // second TYPE
  CHECK(bad("# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n"));
  CHECK(bad("# HELP a x\n# TYPE a gauge\na{w=\"\\q\"} 1\n"));  // bad escape
  CHECK_FALSE(bad("# HELP a x\n# TYPE a gauge\na{w=\"\\\"\\n\\\\\"} -1.5e3 1700000000000\n"));
}

TEST_CASE("the text report is aligned and shows what is counted") {
  auto const text = st::render_report(sample_figures(true));
  INFO(text);
  CHECK(text.find("master    pid 4242, active") != std::string::npos);
  CHECK(text.find("workers   2 (deaths 3, rolling restarts 1, master restarts 1)") !=
        std::string::npos);
  CHECK(text.find("started   2024-05-01 10:40:00 UTC (up 1h 02m 03s)") != std::string::npos);
  CHECK(text.find("this master since 2024-05-01 11:40:00 UTC (up 2m 03s)") != std::string::npos);
  CHECK(text.find("load      0.50 0.25 1.75") != std::string::npos);
  CHECK(text.find("memory    12.0 MiB (at start 11.0 MiB)") != std::string::npos);
  CHECK(text.find("worker  pid      uptime            active  connections    requests\n") !=
        std::string::npos);
  CHECK(text.find("0       101      1h 01m 40s             2            5          15\n") !=
        std::string::npos);
  CHECK(text.find("1       103      0s                     -            -           -\n") !=
        std::string::npos);
  CHECK(text.find("total                                   2            6          15\n") !=
        std::string::npos);

  auto const plain = st::render_report(sample_figures(false));
  CHECK(plain.find("requests") == std::string::npos);
  CHECK(plain.find("total") == std::string::npos);
  CHECK(plain.find("1       102      5s\n") != std::string::npos);
}

TEST_CASE("durations and sizes read as a person would write them") {
  CHECK(st::duration_text(0) == "0s");
  CHECK(st::duration_text(59.9) == "59s");
  CHECK(st::duration_text(61) == "1m 01s");
  CHECK(st::duration_text(3600) == "1h 00m 00s");
  CHECK(st::duration_text(90061) == "1d 01h 01m 01s");
  CHECK(st::bytes_text(512) == "512 B");
  CHECK(st::bytes_text(1536) == "1.5 KiB");
}

TEST_CASE("label values are escaped") { CHECK(st::label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd"); }
