// SPDX-License-Identifier: BSL-1.0
// The program the logger tests run: an HTTP cluster logging to LOGGER_DIR at LOGGER_LEVEL.
#include <cluster/cluster.hpp>
#include <cluster/plugins/logger.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/plugins/stats.hpp>
#include <cluster/server/http.hpp>

#include "../support/test_config.hpp"
#include "program.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

/// `/` answers `pid=P worker=N`; `/stderr` also writes a line to stderr; anything under
/// `/missing` is a 404.
struct app {
  cluster::http::response handle(cluster::http::request const& req) {
    std::string_view const target = req.target();
    std::string const who = "pid=" + std::to_string(::getpid()) +
                            " worker=" + std::to_string(cluster::worker_id().value_or(999));
    if (target.starts_with("/stderr")) {
      std::fprintf(stderr, "stderr line from %s\n", who.c_str());
    }
    auto const status = target.starts_with("/missing") ? cluster::http::status::not_found
                                                       : cluster::http::status::ok;
    cluster::http::response res{status, req.version()};
    res.set(cluster::http::field::content_type, "text/plain");
    res.body() = who + "\n";
    return res;
  }
};

cluster::log_level level_from_env() {
  char const* text = std::getenv("LOGGER_LEVEL");
  std::string_view const level = text ? text : "info";
  if (level == "debug") return cluster::log_level::debug;
  if (level == "warning") return cluster::log_level::warning;
  if (level == "error") return cluster::log_level::error;
  return cluster::log_level::info;
}

}  // namespace

int main(int argc, char** argv) {
  char const* dir = std::getenv("LOGGER_DIR");
  cluster::logger const log = dir ? cluster::logger{dir, level_from_env()} : cluster::logger{};
  auto const config =
      cluster::cluster<app>()
          .set<"workers">(cluster::runtime(cluster::testing::count_from_env("WEB_CONCURRENCY", 2)))
          .set<"timeout">(10000)
          .use(log)
          // After logger: a refused start prints its one line and nothing else.
          .use(cluster::testing::event_trace{})
          .listen(cluster::runtime(cluster::testing::count_from_env("PORT", 0)),
                  cluster::runtime(std::string("127.0.0.1")));
  // LOGGER_AS_NOBODY=1: workers run as `nobody` (the master must be root), so that the files
  // they reopen must have been given to them.
  char const* as_nobody = std::getenv("LOGGER_AS_NOBODY");
  if (as_nobody && std::string_view(as_nobody) == "1")
    return config.set<"user">("nobody").run(argc, argv);
  // LOGGER_PIDS=dir: pid files in dir as well, where a logrotate script finds the master; with
  // LOGGER_METRICS=host:port, the stats plugin after them (the README's order).
  if (char const* pids = std::getenv("LOGGER_PIDS")) {
    if (char const* metrics = std::getenv("LOGGER_METRICS")) {
      return config.use(cluster::pidfiles{pids})
          .use(cluster::stats{.metrics = metrics})
          .run(argc, argv);
    }
    return config.use(cluster::pidfiles{pids}).run(argc, argv);
  }
  return config.run(argc, argv);
}
