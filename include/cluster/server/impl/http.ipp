// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/server/http.hpp>'s non-template part, Beast's parser and its composed
// read and write: inline in each program (header-only), or compiled once into cluster::compiled
// (see <cluster/src.hpp>).
#pragma once

#include <cluster/server/http.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <tuple>

namespace cluster::detail {

CLUSTER_DECL http_reader::http_reader() = default;
CLUSTER_DECL http_reader::~http_reader() = default;

CLUSTER_DECL boost::system::error_code http_reader::parse(boost::beast::flat_buffer& buffer) {
  parser_.emplace();
  parser_->eager(true);
  boost::system::error_code ec;
  buffer.consume(parser_->put(buffer.data(), ec));
  if (ec == boost::beast::http::error::need_more) ec = {};
  return ec;
}

CLUSTER_DECL bool http_reader::done() const { return parser_ && parser_->is_done(); }

CLUSTER_DECL asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> http_reader::read(
    stream& sock, boost::beast::flat_buffer& buffer) {
  // The composed operation's own awaitable, returned as is: no coroutine frame of ours around it.
  return boost::beast::http::async_read(sock, buffer, *parser_,
                                        asio::as_tuple(asio::use_awaitable));
}

CLUSTER_DECL http::request http_reader::release() { return parser_->release(); }

CLUSTER_DECL std::optional<http::response> refusal(boost::system::error_code why) {
  namespace bh = boost::beast::http;
  if (why.category() != bh::make_error_code(bh::error::bad_method).category() ||
      why == bh::error::end_of_stream || why == bh::error::partial_message)
    return std::nullopt;
  auto status = http::status::bad_request;
  if (why == bh::error::header_limit) status = http::status::request_header_fields_too_large;
  if (why == bh::error::body_limit) status = http::status::payload_too_large;
  http::response res{status, 11};
  res.set(http::field::content_type, "text/plain");
  res.keep_alive(false);
  res.body() = std::string(bh::obsolete_reason(status)) + "\n";
  res.prepare_payload();
  return res;
}

CLUSTER_DECL asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_response(
    stream& sock, http::response& res) {
  return boost::beast::http::async_write(sock, res, asio::as_tuple(asio::use_awaitable));
}

}  // namespace cluster::detail
