// SPDX-License-Identifier: BSL-1.0
// The request handler both benchmark servers share, so that only the process core differs.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <unistd.h>

#include <string>

namespace bench {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using response = boost::beast::http::response<boost::beast::http::string_body>;

/// "Hello World" with the headers a real server would send; `/pid` answers the worker's pid,
/// which tells the benchmark when a replacement worker is serving.
inline response hello(request const& req) {
  response res{boost::beast::http::status::ok, req.version()};
  res.set(boost::beast::http::field::content_type, "text/plain");
  if (req.target() == "/pid") {
    res.body() = std::to_string(::getpid()) + "\n";
  } else {
    res.body() = "Hello World\n";
  }
  return res;
}

}  // namespace bench
