// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/text.hpp>: inline in each program (header-only), or compiled once into
// cluster::compiled (see <cluster/src.hpp>).
#pragma once

#include <cluster/text.hpp>

#include <array>
#include <charconv>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace cluster::text {

namespace detail {

/// What a `{:spec}` asks for.
struct field_spec {
  char fill = ' ';
  char align = 0;  ///< '<', '>', '^', or 0 for the value's default
  bool zero = false;
  std::size_t width = 0;
  int precision = -1;  ///< -1: none
};

inline std::size_t read_number(std::string_view s, std::size_t& at) {
  std::size_t n = 0;
  while (at < s.size() && s[at] >= '0' && s[at] <= '9')
    n = n * 10 + static_cast<std::size_t>(s[at++] - '0');
  return n;
}

/// `spec` is what follows the colon. Characters it does not know are ignored: the patterns are
/// the library's own, checked for their shape when they are compiled.
inline field_spec parse_spec(std::string_view spec) {
  field_spec f;
  std::size_t at = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^'; };
  if (spec.size() >= 2 && is_align(spec[1])) {
    f.fill = spec[0];
    f.align = spec[1];
    at = 2;
  } else if (!spec.empty() && is_align(spec[0])) {
    f.align = spec[0];
    at = 1;
  }
  if (at < spec.size() && spec[at] == '0') {
    f.zero = true;
    ++at;
  }
  f.width = read_number(spec, at);
  if (at < spec.size() && spec[at] == '.') {
    ++at;
    f.precision = static_cast<int>(read_number(spec, at));
  }
  return f;
}

/// Appends `v` as `spec` says.
inline void append_field(std::string& out, value const& v, field_spec const& spec) {
  std::array<char, 64> digits{};
  char* const first = digits.data();
  char* const last = first + digits.size();
  std::string_view piece;
  switch (v.what()) {
    case value::kind::text:
      piece = v.as_text();
      break;
    case value::kind::signed_integer:
      piece = {first, std::to_chars(first, last, v.as_signed()).ptr};
      break;
    case value::kind::unsigned_integer:
      piece = {first, std::to_chars(first, last, v.as_unsigned()).ptr};
      break;
    case value::kind::real: {
      auto const r = spec.precision >= 0 ? std::to_chars(first, last, v.as_real(),
                                                         std::chars_format::fixed, spec.precision)
                                         : std::to_chars(first, last, v.as_real());
      // Only a value beyond 1e40 with its decimals overflows 64 characters; it is shown as "?".
      piece = r.ec == std::errc{} ? std::string_view(first, r.ptr) : std::string_view("?");
      break;
    }
  }
  std::size_t const pad = piece.size() < spec.width ? spec.width - piece.size() : 0;
  bool const number = v.what() != value::kind::text;
  if (pad == 0) {
    out += piece;
  } else if (spec.zero && number && spec.align == 0) {
    // Zeros go after the sign: -05, not 0-5.
    if (!piece.empty() && piece.front() == '-') {
      out += '-';
      piece.remove_prefix(1);
    }
    out.append(pad, '0');
    out += piece;
  } else {
    char const align = spec.align != 0 ? spec.align : number ? '>' : '<';
    std::size_t const before = align == '>' ? pad : align == '^' ? pad / 2 : 0;
    out.append(before, spec.fill);
    out += piece;
    out.append(pad - before, spec.fill);
  }
}

}  // namespace detail

CLUSTER_DECL void append_to(std::string& out, std::string_view p, std::span<value const> values) {
  std::size_t next = 0;
  std::size_t i = 0;
  while (i < p.size()) {
    char const c = p[i];
    if ((c == '{' || c == '}') && i + 1 < p.size() && p[i + 1] == c) {
      out += c;
      i += 2;
      continue;
    }
    if (c != '{') {
      std::size_t const end = p.find_first_of("{}", i);
      std::size_t const stop = end == std::string_view::npos ? p.size() : end;
      // A lone '}' cannot get here: the pattern's check refuses it. Copied as it is, in any case.
      out.append(p.substr(i, stop == i ? 1 : stop - i));
      i = stop == i ? i + 1 : stop;
      continue;
    }
    std::size_t const close = p.find('}', i);
    if (close == std::string_view::npos || next >= values.size()) {
      out.append(p.substr(i));  // cannot happen with a checked pattern; shown, not lost
      return;
    }
    std::string_view const spec = p.substr(i + 1, close - i - 1);
    detail::append_field(out, values[next++],
                         spec.empty() ? detail::field_spec{} : detail::parse_spec(spec.substr(1)));
    i = close + 1;
  }
}

}  // namespace cluster::text
