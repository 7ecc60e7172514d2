// SPDX-License-Identifier: BSL-1.0
// The request handler both benchmark servers share, so that only the process core differs.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace bench {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using response = boost::beast::http::response<boost::beast::http::string_body>;

/// "Hello World" with the headers a real server would send.
inline response hello(request const& req) {
  response res{boost::beast::http::status::ok, req.version()};
  res.set(boost::beast::http::field::content_type, "text/plain");
  res.body() = "Hello World\n";
  return res;
}

}  // namespace bench
