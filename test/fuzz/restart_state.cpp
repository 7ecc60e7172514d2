// SPDX-License-Identifier: BSL-1.0
// Fuzz target (libFuzzer): whatever bytes a predecessor master hands over, the successor's
// restart state reader refuses them with one line or reads them whole (then they are exactly
// what serialize() writes back), and a plugin's part with any payload is read back or refused,
// never misread past its bytes.
#include <cluster/restart_state.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

/// A plugin whose handover holds every kind of field the reader knows.
struct probe {
  static constexpr cluster::fixed_string name = "probe";
  enum class mode : std::uint8_t { off, on };
  struct handover {
    std::uint64_t generation = 0;
    std::string note;
    std::vector<std::string> names;
    std::optional<std::int32_t> limit;
    std::pair<std::uint16_t, std::array<std::uint8_t, 3>> port;
    bool flag = false;
    mode how = mode::off;
    double ratio = 0;
  };
  static constexpr std::uint32_t handover_version = 3;
};

/// `value` as the reader expects it.
std::string encoded(probe::handover const& value) {
  std::string out;
  cluster::detail::wire::write(out, value);
  return out;
}

/// The bytes of a state holding only probe's part, with `payload` as that part's payload.
std::string with_payload(std::string_view payload) {
  namespace wire = cluster::detail::wire;
  cluster::restart_state state;
  state.put<probe>(probe::handover{});
  std::string const bytes = state.serialize();
  // The payload is the last thing written, as its length then its bytes.
  std::string empty_payload;
  wire::write(empty_payload, encoded(probe::handover{}));
  std::string out = bytes.substr(0, bytes.size() - empty_payload.size());
  wire::write(out, std::string(payload));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::string_view const bytes(reinterpret_cast<char const*>(data), size);
  // Bytes as a whole state.
  auto const state = cluster::restart_state::parse(bytes);
  if (state.problems().empty()) {
    if (state.serialize() != bytes) std::abort();
  } else if (state.problems().size() != 1 ||
             state.problems().front().find('\n') != std::string::npos) {
    std::abort();
  }
  (void)state.get<probe>();
  // Bytes as probe's payload in a well-formed state: read back whole, or refused with one line.
  auto const framed = cluster::restart_state::parse(with_payload(bytes));
  if (!framed.problems().empty()) std::abort();
  auto const value = framed.get<probe>();
  if (value) {
    // What was read is exactly what the bytes say: written again, they are the same bytes.
    if (encoded(*value) != bytes) std::abort();
  } else if (framed.problems().size() != 1) {
    std::abort();
  }
  return 0;
}
