// SPDX-License-Identifier: BSL-1.0
// cluster::text::format: the fields the bundled plugins use, as std::format would write them.
#include <cluster/text.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

using cluster::text::format;

TEST_CASE("text: plain fields take text and numbers in order") {
  CHECK(format("no fields") == "no fields");
  CHECK(format("") == "");
  CHECK(format("worker {} spawned (pid {})", 3, 4242) == "worker 3 spawned (pid 4242)");
  std::string const s = "production";
  std::string_view const v = "view";
  CHECK(format("{} {} {} {}", s, v, "literal", static_cast<char const*>("pointer")) ==
        "production view literal pointer");
  CHECK(format("{}{}", -7, std::numeric_limits<std::uint64_t>::max()) == "-718446744073709551615");
  CHECK(format("{}", std::numeric_limits<long long>::min()) == "-9223372036854775808");
  CHECK(format("{}", 0.5) == "0.5");
}

TEST_CASE("text: doubled braces are braces") {
  CHECK(format("{}{{{}}} {}", "name", "a=\"1\"", 7) == "name{a=\"1\"} 7");
  CHECK(format("{{}}") == "{}");
}

TEST_CASE("text: zero padding goes after the sign") {
  CHECK(format("{:02}h {:02}m", 4, 12) == "04h 12m");
  CHECK(format("{:04}-{:02}-{:02}", 2026, 1, 9) == "2026-01-09");
  CHECK(format("{:03}", -5) == "-05");
  CHECK(format("{:02}", 123) == "123");
}

TEST_CASE("text: width and alignment, numbers right and text left by default") {
  CHECK(format("[{:<8}]", "worker") == "[worker  ]");
  CHECK(format("[{:>8}]", "active") == "[  active]");
  CHECK(format("[{:8}]", 42) == "[      42]");
  CHECK(format("[{:8}]", "ab") == "[ab      ]");
  CHECK(format("[{:<8}]", 42) == "[42      ]");
  CHECK(format("[{:^6}]", "ab") == "[  ab  ]");
  CHECK(format("[{:*>5}]", 7) == "[****7]");
  CHECK(format("[{:<3}]", "longer") == "[longer]");
}

TEST_CASE("text: fixed precision") {
  CHECK(format("{:.2f} {:.2f} {:.2f}", 0.0, 1.234, 12.0) == "0.00 1.23 12.00");
  CHECK(format("{:.1f} {}", 1536.0 / 1024, "KiB") == "1.5 KiB");
  CHECK(format("{:.3f}", 1714560000.1234) == "1714560000.123");
  CHECK(format("{:.2f}", -0.5) == "-0.50");
}

TEST_CASE("text: align_right pads to a width chosen at run time") {
  CHECK(cluster::text::align_right("12", 5) == "   12");
  CHECK(cluster::text::align_right("123456", 3) == "123456");
}
