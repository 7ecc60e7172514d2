// SPDX-License-Identifier: BSL-1.0
// A handover value as bytes and back: the writer, and the reader that trusts nothing it reads.
// Private to <cluster/restart_state.hpp>.
#pragma once

#include <cluster/wire/handover_types.hpp>

#include <boost/pfr/core.hpp>

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

/// How a handover value becomes bytes and back.
///
/// The bytes cross from one build of the program to another (SIGUSR2 starts the executable on
/// disk, possibly rebuilt), so nothing here depends on the in-memory layout of a type: every
/// value is written field by field, integers as fixed-width little-endian, and every length is
/// written before what it measures. A reader trusts nothing it reads: each length is bounded by
/// the bytes that remain before anything is allocated.
namespace cluster::detail::wire {

//=== writing and reading ===//

/// Fixed-width little-endian, byte by byte. The successor normally runs on the same machine, so
/// native order would do; spelling the order out costs nothing at this size (once per restart),
/// needs no alignment, and makes the format a definition instead of a property of the host.
template <std::unsigned_integral U>
void put_uint(std::string& out, U value) {
  for (std::size_t i = 0; i != sizeof(U); ++i)
    out.push_back(static_cast<char>(static_cast<unsigned char>(value >> (8 * i))));
}

template <class T>
void write(std::string& out, T const& value) {
  if constexpr (std::is_same_v<T, bool>) {
    put_uint(out, static_cast<std::uint8_t>(value ? 1 : 0));
  } else if constexpr (std::is_integral_v<T>) {
    put_uint(out, static_cast<std::make_unsigned_t<T>>(value));
  } else if constexpr (std::is_enum_v<T>) {
    write(out, static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::is_same_v<T, float>) {
    put_uint(out, std::bit_cast<std::uint32_t>(value));
  } else if constexpr (std::is_same_v<T, double>) {
    put_uint(out, std::bit_cast<std::uint64_t>(value));
  } else if constexpr (std::is_same_v<T, std::string>) {
    put_uint(out, static_cast<std::uint64_t>(value.size()));
    out.append(value);
  } else if constexpr (is_vector<T>::value) {
    put_uint(out, static_cast<std::uint64_t>(value.size()));
    for (auto const& element : value) write(out, element);
  } else if constexpr (is_optional<T>::value) {
    put_uint(out, static_cast<std::uint8_t>(value ? 1 : 0));
    if (value) write(out, *value);
  } else if constexpr (is_std_array<T>::value) {
    for (auto const& element : value) write(out, element);
  } else if constexpr (is_pair<T>::value) {
    write(out, value.first);
    write(out, value.second);
  } else {
    boost::pfr::for_each_field(value, [&out](auto const& field) { write(out, field); });
  }
}

/// Reads what `write` wrote, from bytes it does not trust.
///
/// The first failure (too few bytes, a count larger than the rest could hold, a bool or tag that
/// is neither 0 nor 1) stops the reader: later reads do nothing and `ok()` stays false.
class reader {
 public:
  explicit reader(std::string_view bytes) noexcept : rest_(bytes) {}

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] std::size_t left() const noexcept { return rest_.size(); }

  template <std::unsigned_integral U>
  void uint(U& out) noexcept {
    if (!take(sizeof(U))) return;
    U value = 0;
    for (std::size_t i = 0; i != sizeof(U); ++i)
      value |= static_cast<U>(static_cast<U>(static_cast<unsigned char>(taken_[i])) << (8 * i));
    out = value;
  }

  template <class T>
  void read(T& out) {
    if (!ok_) return;
    if constexpr (std::is_same_v<T, bool>) {
      std::uint8_t byte = 0;
      uint(byte);
      if (byte > 1) ok_ = false;
      out = byte == 1;
    } else if constexpr (std::is_integral_v<T>) {
      std::make_unsigned_t<T> bits = 0;
      uint(bits);
      out = static_cast<T>(bits);  // modular since C++20: the bits of the writer's value
    } else if constexpr (std::is_enum_v<T>) {
      std::underlying_type_t<T> value{};
      read(value);
      out = static_cast<T>(value);  // a fixed underlying type makes every value valid
    } else if constexpr (std::is_same_v<T, float>) {
      std::uint32_t bits = 0;
      uint(bits);
      out = std::bit_cast<float>(bits);
    } else if constexpr (std::is_same_v<T, double>) {
      std::uint64_t bits = 0;
      uint(bits);
      out = std::bit_cast<double>(bits);
    } else if constexpr (std::is_same_v<T, std::string>) {
      std::uint64_t size = 0;
      uint(size);
      if (ok_ && size > rest_.size()) ok_ = false;
      if (!ok_ || !take(static_cast<std::size_t>(size))) return;
      out.assign(taken_);
    } else if constexpr (is_vector<T>::value) {
      using element = typename T::value_type;
      std::uint64_t count = 0;
      uint(count);
      // Each element takes at least min_size bytes, so a count that the rest cannot hold is a
      // lie, refused before reserving memory for it.
      if (ok_ && count > rest_.size() / min_size<element>()) ok_ = false;
      if (!ok_) return;
      out.clear();
      out.reserve(static_cast<std::size_t>(count));
      for (std::uint64_t i = 0; i != count && ok_; ++i) {
        element e{};
        read(e);
        out.push_back(std::move(e));
      }
    } else if constexpr (is_optional<T>::value) {
      std::uint8_t tag = 0;
      uint(tag);
      if (!ok_) return;
      if (tag == 0) {
        out.reset();
      } else if (tag == 1) {
        read(out.emplace());
      } else {
        ok_ = false;
      }
    } else if constexpr (is_std_array<T>::value) {
      for (auto& element : out) read(element);
    } else if constexpr (is_pair<T>::value) {
      read(out.first);
      read(out.second);
    } else {
      boost::pfr::for_each_field(out, [this](auto& field) { this->read(field); });
    }
  }

  /// Passes over the next `n` bytes (or fails, when fewer remain).
  void skip(std::size_t n) noexcept { take(n); }

 private:
  bool take(std::size_t n) noexcept {
    if (!ok_ || n > rest_.size()) {
      ok_ = false;
      return false;
    }
    taken_ = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }

  std::string_view rest_;
  std::string_view taken_;
  bool ok_ = true;
};

}  // namespace cluster::detail::wire
