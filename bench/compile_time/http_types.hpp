// SPDX-License-Identifier: BSL-1.0
// The request and response types, spelt with Beast's two message headers alone. They are the very
// types cluster::http::request and cluster::http::response name, so a handler written against
// them needs nothing from cluster, and its translation unit stays as small as the baseline's.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace bench {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using response = boost::beast::http::response<boost::beast::http::string_body>;

}  // namespace bench
