// SPDX-License-Identifier: BSL-1.0
// What the plugin test programs (plugins/*_server.cpp) share: a trivial HTTP server and settings
// read from the environment the harness sets (PORT, WEB_CONCURRENCY, ...).
#pragma once

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

}  // namespace cluster::testing
