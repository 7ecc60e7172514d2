// SPDX-License-Identifier: BSL-1.0
// The event lists are the one place that enumerates the events: docs/plugins/events.md lists
// exactly them, and every event has the name its type has.
#include <cluster/events.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

#include <fstream>
#include <regex>
#include <set>
#include <string>

namespace {

template <class... Events>
std::set<std::string> names(cluster::events::list<Events...> /*events*/) {
  return {std::string(Events::name)...};
}

/// The event names in the first column of the tables under `heading` in events.md.
std::set<std::string> documented(std::string const& heading) {
  std::ifstream in(CLUSTER_SOURCE_DIR "/docs/plugins/events.md");
  REQUIRE(in);
  std::set<std::string> out;
  bool inside = false;
  std::regex const row(R"(^\| `(\w+)` \|)");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("## ")) inside = line == "## " + heading;
    std::smatch m;
    if (inside && std::regex_search(line, m, row)) out.insert(m[1]);
  }
  return out;
}

}  // namespace

TEST_CASE("docs/plugins/events.md lists exactly the master events") {
  auto const listed = names(cluster::events::master_events{});
  CHECK(listed.size() == 25);
  // The reasons table sits in the same section: drop its rows.
  auto doc = documented("Master events");
  std::set<std::string> reasons;
  for (std::size_t i = 0; i < cluster::events::exit_reason_count; ++i) {
    std::string r(to_string(static_cast<cluster::events::exit_reason>(i)));
    std::replace(r.begin(), r.end(), ' ', '_');
    reasons.insert(r);
  }
  for (auto const& reason : reasons) {
    INFO(reason);
    CHECK(doc.erase(reason) == 1);  // every reason is in the reasons table
  }
  CHECK(doc == listed);
}

TEST_CASE("docs/plugins/events.md lists exactly the worker events") {
  CHECK(documented("Worker events") == names(cluster::events::worker_events{}));
}

TEST_CASE("every exit reason has a word") {
  using r = cluster::events::exit_reason;
  for (auto reason : {r::crashed, r::exited, r::killed, r::stopped, r::removed, r::timed_out,
                      r::shutdown, r::gave_up, r::hung, r::boot_timeout}) {
    CHECK(to_string(reason) != "?");
  }
  CHECK(to_string(r::timed_out) == "timed out");
  CHECK(to_string(r::boot_timeout) == "boot timeout");
}
