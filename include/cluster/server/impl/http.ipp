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

CLUSTER_DECL asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_response(
    stream& sock, http::response& res) {
  return boost::beast::http::async_write(sock, res, asio::as_tuple(asio::use_awaitable));
}

}  // namespace cluster::detail
