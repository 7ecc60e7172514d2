// SPDX-License-Identifier: BSL-1.0
// The application both compile-time programs serve, so that they differ only in what runs it:
// a few routes, a 404 and a JSON-ish body, about what a first real handler looks like.
#pragma once

#include "http_types.hpp"

#include <string>
#include <string_view>

namespace bench {

inline response answer(request const& req) {
  namespace http = boost::beast::http;
  std::string_view const target = req.target();
  response res{http::status::ok, req.version()};
  res.set(http::field::server, "bench");
  if (target == "/") {
    res.set(http::field::content_type, "text/plain");
    res.body() = "Hello World\n";
  } else if (target.starts_with("/echo/") && req.method() == http::verb::get) {
    res.set(http::field::content_type, "application/json");
    res.body() = "{\"echo\": \"" + std::string(target.substr(6)) + "\"}\n";
  } else {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain");
    res.body() = "Not Found\n";
  }
  return res;
}

}  // namespace bench
