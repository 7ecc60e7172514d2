// SPDX-License-Identifier: BSL-1.0
// The stats plugin as a user writes it; its figures and endpoint are tested in stats/.
#include <cluster/plugins/stats.hpp>

#include <catch2/catch.hpp>

TEST_CASE("the plugin is an aggregate with designated settings") {
  cluster::stats const none{};
  cluster::stats const all{.connections = true, .requests = true, .metrics = "127.0.0.1:0"};
  CHECK_FALSE(none.connections);
  CHECK(all.requests);
  CHECK(all.metrics == "127.0.0.1:0");
  STATIC_REQUIRE(cluster::plugin<cluster::stats>);
}
