// SPDX-License-Identifier: BSL-1.0
// The master's HTTP endpoint, as its routes see it: one bounded request read by Beast's parser,
// one answer, and the routes other plugins add beside the stats plugin's `/metrics`.
// Declarations only: Beast is included by impl/endpoint.ipp, compiled with the library's code.
#pragma once

#include <cluster/linkage.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace cluster::detail::statistics {

/// The most a request may bring: its head, and its body (the arguments of a command).
inline constexpr std::size_t max_head_bytes = 8192;
inline constexpr std::size_t max_body_bytes = 4096;

/// A request the endpoint read, for its routes.
struct http_request {
  std::string method;         ///< "GET"
  std::string path;           ///< the target without its query: "/status"
  std::string authorization;  ///< the `Authorization` header's value, if any
  std::string body;
  std::string peer;  ///< the client's address: "127.0.0.1:50312"
};

/// An answer, written with `Connection: close` (one request per connection).
struct http_reply {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string headers{};  ///< more header lines, each ending in "\r\n"
};

/// The bytes of `r`; its head only for a `HEAD` request (`head_only`).
CLUSTER_DECL std::string render(http_reply const& r, bool head_only);

/// Sends the answer of one request; called once, now or later (a command that waits).
using responder = std::function<void(http_reply)>;

/// Routes added to the endpoint: answers a request through `respond` and returns true, or
/// returns false when the path is not one of its own (the endpoint then answers 404).
using http_routes = std::function<bool(http_request const&, responder const&)>;

/// Reads one request from the bytes a client sends, with Beast's parser, within the limits
/// above. Keeps what it has not parsed yet between calls.
class request_reader {
 public:
  enum class status { more, done, bad, head_too_large, body_too_large };

  CLUSTER_DECL request_reader();
  CLUSTER_DECL ~request_reader();
  request_reader(request_reader const&) = delete;
  request_reader& operator=(request_reader const&) = delete;

  /// Takes the next bytes; `done` once a whole request is read (bytes after it are ignored).
  CLUSTER_DECL status feed(std::string_view bytes);
  /// The client sent end-of-file: `bad` unless a whole request was read.
  CLUSTER_DECL status end_of_input();

  /// The request, once `done`.
  [[nodiscard]] http_request const& request() const noexcept { return request_; }

 private:
  struct parser;
  std::unique_ptr<parser> parser_;
  std::string pending_;
  http_request request_;
  status last_ = status::more;
};

/// The answer of `/metrics` to `r`, with the text `body` makes; false when `r` is for another
/// path.
CLUSTER_DECL bool metrics_route(http_request const& r, std::function<std::string()> const& body,
                                http_reply& out);

/// The whole answer of the endpoint to the bytes of one request, without added routes: what a
/// client of `/metrics` gets (for tests and the fuzz target).
CLUSTER_DECL std::string answer_to(std::string_view bytes,
                                   std::function<std::string()> const& body);

}  // namespace cluster::detail::statistics
