// SPDX-License-Identifier: BSL-1.0
// Fuzz target (libFuzzer): whatever bytes a client sends, split anywhere, the master's request
// reader and parser and the client's reply parser return an answer: no crash, no overflow, no
// line longer than the limit, and a parsed request round-trips; the console's line reader and
// parser likewise.
#include <cluster/control/protocol.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace control = cluster::control;

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::string_view const bytes(reinterpret_cast<char const*>(data), size);
  // The first byte says where the input is split into two reads.
  std::size_t const cut = size == 0 ? 0 : static_cast<std::size_t>(data[0]) % size;
  control::request_reader reader;
  auto status = reader.feed(bytes.substr(0, cut));
  if (status == control::request_reader::status::incomplete)
    status = reader.feed(bytes.substr(cut));
  if (reader.line().size() >= control::max_request) std::abort();
  if (status == control::request_reader::status::complete) {
    auto const parsed = control::parse_request(reader.line());
    if (parsed.value.has_value() == !parsed.error.empty()) std::abort();
    if (parsed.value) {
      // What the master read is what a client would have sent for it.
      std::string line = control::format_request(parsed.value->command, parsed.value->arguments);
      line.pop_back();  // the newline the reader takes off
      auto const round = control::parse_request(line);
      if (!round.value || round.value->command != parsed.value->command ||
          round.value->arguments != parsed.value->arguments)
        std::abort();
    }
  }
  // The console: lines however split, each parsed without a crash; a parsed line's words hold
  // no control character, and a line never reaches the limit.
  control::line_reader lines;
  lines.feed(bytes.substr(0, cut));
  lines.feed(bytes.substr(cut));
  while (auto line = lines.next()) {
    if (line->size() >= control::max_request) std::abort();
    auto const parsed = control::parse_console_line(*line);
    if (parsed.value.has_value() == !parsed.error.empty()) std::abort();
    if (parsed.value) {
      for (auto const& a : parsed.value->arguments)
        for (char const c : a)
          if (static_cast<unsigned char>(c) < 0x20 && c != '\t') std::abort();
      if (parsed.value->command.empty() && !parsed.value->arguments.empty()) std::abort();
    }
  }
  (void)control::parse_reply(bytes);
  std::string const quoted = control::json_string(bytes);
  if (quoted.size() < 2 || quoted.front() != '"' || quoted.back() != '"') std::abort();
  return 0;
}
