// SPDX-License-Identifier: BSL-1.0
// Fuzz target (libFuzzer): whatever bytes a client sends to the master's HTTP endpoint, split
// anywhere, the request reader (Beast's parser within the endpoint's limits) comes to the same
// verdict as when they come at once, never keeps more than its limits, and the endpoint's answer
// is one well-formed HTTP/1.1 response.
#include <cluster/plugins/stats/endpoint.hpp>
#include <cluster/plugins/stats/http.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

namespace st = cluster::detail::statistics;

namespace {

using status = st::request_reader::status;

/// The verdict on `bytes` fed in pieces cut at `cut`, then end-of-input.
status verdict(std::string_view bytes, std::size_t cut, st::http_request* out) {
  st::request_reader reader;
  status s = reader.feed(bytes.substr(0, cut));
  if (s == status::more) s = reader.feed(bytes.substr(cut));
  if (s == status::more) s = reader.end_of_input();
  if (s == status::done) {
    if (reader.request().body.size() > st::max_body_bytes) std::abort();
    if (out != nullptr) *out = reader.request();
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::string_view const bytes(reinterpret_cast<char const*>(data), size);
  std::size_t const cut = size == 0 ? 0 : static_cast<std::size_t>(data[0]) % size;
  st::http_request split;
  st::http_request whole;
  status const a = verdict(bytes, cut, &split);
  status const b = verdict(bytes, size, &whole);
  // A head too large may be seen as such before or after the cut; any other verdict is the same.
  bool const same = a == b || (a == status::head_too_large) != (b == status::head_too_large);
  if (!same) std::abort();
  if (a == status::done && b == status::done &&
      (split.method != whole.method || split.path != whole.path || split.body != whole.body ||
       split.authorization != whole.authorization))
    std::abort();
  std::function<std::string()> const body = [] { return std::string("m 1\n"); };
  std::string const answer = st::answer_to(bytes, body);
  if (!answer.starts_with("HTTP/1.1 ") || answer.find("\r\n\r\n") == std::string::npos)
    std::abort();
  return 0;
}
