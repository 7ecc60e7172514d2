// SPDX-License-Identifier: BSL-1.0
// What the plugin test programs (plugins/*_server.cpp) share: a trivial HTTP server and settings
// read from the environment the harness sets (PORT, WEB_CONCURRENCY, ...).
#pragma once

#include <cluster/cluster.hpp>
#include <cluster/server/http.hpp>
#include <cluster/worker.hpp>

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>

namespace cluster::testing {

/// Answers every request with 200 and `pid=P worker=N`: who served it.
struct pid_server {
  http::response handle(http::request const& request) {
    http::response response{http::status::ok, request.version()};
    response.set(http::field::content_type, "text/plain");
    response.body() = "pid=" + std::to_string(::getpid()) +
                      " worker=" + std::to_string(worker_id().value_or(999)) + "\n";
    return response;
  }
};

/// A whole number from the environment, or `fallback`.
inline unsigned count_from_env(char const* name, unsigned fallback) {
  char const* text = std::getenv(name);
  unsigned value = fallback;
  if (text != nullptr && *text != '\0')
    std::from_chars(text, text + std::string_view(text).size(), value);
  return value;
}

/// A text from the environment, or `fallback` when unset or empty.
inline std::string text_from_env(char const* name, char const* fallback) {
  char const* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::string(text) : std::string(fallback);
}

/// The cluster of `pid_server` most plugin test programs start from: WEB_CONCURRENCY workers
/// (2), a 5 s graceful timeout, no delay between master restarts, and CLUSTER_TEST_WORKDIR (or
/// /tmp) as the working directory.
inline auto plugin_test_cluster() {
  return cluster<pid_server>()
      .set<"workers">(runtime(count_from_env("WEB_CONCURRENCY", 2)))
      .set<"timeout">(5000)
      .set<"restart threshold">(0)
      .set<"working directory">(runtime(text_from_env("CLUSTER_TEST_WORKDIR", "/tmp")));
}

}  // namespace cluster::testing
