// SPDX-License-Identifier: BSL-1.0
// The few formatting needs of the bundled plugins' lines and reports: `{}` fields with widths,
// alignment, zero padding and fixed precision, checked at compile time, formatted by one
// non-template function.
#pragma once

#include <cluster/linkage.hpp>

#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace cluster::text {

/// One value to put in a pattern's field: text (kept by reference, not copied), an integer or a
/// floating-point number.
class value {
 public:
  enum class kind : unsigned char { text, signed_integer, unsigned_integer, real };

  value(std::string_view s) noexcept : kind_(kind::text), text_(s) {}    // NOLINT(*-explicit-*)
  value(char const* s) noexcept : kind_(kind::text), text_(s) {}         // NOLINT(*-explicit-*)
  value(std::string const& s) noexcept : kind_(kind::text), text_(s) {}  // NOLINT(*-explicit-*)
  template <std::signed_integral I>
  requires(!std::same_as<I, char>) value(I v)
  noexcept : kind_(kind::signed_integer), signed_(v) {}  // NOLINT(*-explicit-*)
  template <std::unsigned_integral I>
  requires(!std::same_as<I, bool>) value(I v)
  noexcept : kind_(kind::unsigned_integer), unsigned_(v) {}  // NOLINT(*-explicit-*)
  value(double v) noexcept : kind_(kind::real), real_(v) {}  // NOLINT(*-explicit-*)

  [[nodiscard]] kind what() const noexcept { return kind_; }
  [[nodiscard]] std::string_view as_text() const noexcept { return text_; }
  [[nodiscard]] long long as_signed() const noexcept { return signed_; }
  [[nodiscard]] unsigned long long as_unsigned() const noexcept { return unsigned_; }
  [[nodiscard]] double as_real() const noexcept { return real_; }

 private:
  kind kind_;
  union {
    std::string_view text_;
    long long signed_;
    unsigned long long unsigned_;
    double real_;
  };
};

namespace detail {
// Called only when a pattern is wrong, which makes the consteval check below fail to compile
// with this name in the message.
void pattern_fields_do_not_match_the_arguments();
void pattern_has_an_unmatched_brace();
void pattern_has_a_field_specification_it_cannot_format();

/// The number of fields in `p`, or -1 (after calling one of the above) when it is malformed.
consteval int count_fields(std::string_view p) {
  int fields = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '}') {
      if (i + 1 < p.size() && p[i + 1] == '}') {
        ++i;
        continue;
      }
      pattern_has_an_unmatched_brace();
    }
    if (p[i] != '{') continue;
    if (i + 1 < p.size() && p[i + 1] == '{') {
      ++i;
      continue;
    }
    std::size_t const close = p.find('}', i);
    if (close == std::string_view::npos) pattern_has_an_unmatched_brace();
    std::string_view const spec = p.substr(i + 1, close - i - 1);
    // Only `{}` and `{:spec}` with spec = [[fill]<|>|^][0][width][.precision][f].
    if (!spec.empty() && spec.front() != ':') pattern_has_a_field_specification_it_cannot_format();
    if (spec.find('{') != std::string_view::npos)
      pattern_has_a_field_specification_it_cannot_format();
    ++fields;
    i = close;
  }
  return fields;
}
}  // namespace detail

/// A pattern known at compile time to hold exactly `Fields` fields, each `{}` or `{:spec}`.
template <std::size_t Fields>
class pattern {
 public:
  template <std::size_t N>
  consteval pattern(char const (&s)[N])  // NOLINT(*-explicit-*, *-avoid-c-arrays)
      : text_(s, N - 1) {
    if (detail::count_fields(text_) != static_cast<int>(Fields))
      detail::pattern_fields_do_not_match_the_arguments();
  }
  [[nodiscard]] constexpr std::string_view text() const noexcept { return text_; }

 private:
  std::string_view text_;
};

/// Appends `p` to `out`, each field replaced by the next of `values`.
///
/// A field is `{}`, or `{:spec}` with spec `[[fill]align][0][width][.precision][f]` as in
/// std::format: align `<`, `>` or `^` (numbers go right by default, text left), `0` pads a number
/// with zeros after its sign, `.precision` gives a number that many decimals. `{{` and `}}` are
/// braces.
CLUSTER_DECL void append_to(std::string& out, std::string_view p, std::span<value const> values);

/// `p` with its fields replaced by `args`, in order. A pattern whose field count differs from the
/// argument count does not compile.
template <class... Args>
[[nodiscard]] std::string format(std::type_identity_t<pattern<sizeof...(Args)>> p,
                                 Args const&... args) {
  std::string out;
  if constexpr (sizeof...(Args) == 0) {
    append_to(out, p.text(), {});
  } else {
    value const values[] = {value(args)...};  // NOLINT(*-avoid-c-arrays)
    append_to(out, p.text(), values);
  }
  return out;
}

/// `s` padded with spaces on the left to `width` characters (a column whose width is chosen at
/// run time).
[[nodiscard]] inline std::string align_right(std::string_view s, std::size_t width) {
  std::string out;
  if (s.size() < width) out.assign(width - s.size(), ' ');
  out += s;
  return out;
}

}  // namespace cluster::text

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/impl/text.ipp>
#endif
