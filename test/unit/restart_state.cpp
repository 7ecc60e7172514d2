// SPDX-License-Identifier: BSL-1.0
// The restart state: what plugins hand over survives the bytes, and bad bytes are refused whole.
#include <cluster/restart_state.hpp>
#include <cluster/wire/fingerprint.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

//=== plugins ===//

enum class mode : std::uint8_t { idle, busy = 200 };
enum level : std::int16_t { low = -3, high = 7 };

struct endpoint {
  std::string host;
  std::uint16_t port;
  friend bool operator==(endpoint const&, endpoint const&) = default;
};

struct rich {
  bool flag;
  char letter;
  std::int8_t i8;
  std::uint8_t u8;
  std::int16_t i16;
  std::uint16_t u16;
  std::int32_t i32;
  std::uint32_t u32;
  std::int64_t i64;
  std::uint64_t u64;
  mode current;
  level depth;
  float ratio;
  double mean;
  std::string text;
  std::vector<int> numbers;
  std::vector<std::string> words;
  std::vector<bool> bits;
  std::optional<int> some;
  std::optional<std::string> none;
  std::array<std::int32_t, 3> triple;
  std::pair<int, std::string> tagged;
  endpoint primary;
  std::vector<endpoint> others;
  std::optional<std::vector<endpoint>> backup;
  // g++ 12 cannot reflect a std::array of strings as a direct member (see docs/restart.md),
  // but carries one inside a pair, a vector or an optional.
  std::pair<std::uint8_t, std::array<std::string, 2>> names;
  friend bool operator==(rich const&, rich const&) = default;
};

rich sample() {
  return rich{
      .flag = true,
      .letter = 'z',
      .i8 = std::numeric_limits<std::int8_t>::min(),
      .u8 = std::numeric_limits<std::uint8_t>::max(),
      .i16 = -12345,
      .u16 = 54321,
      .i32 = std::numeric_limits<std::int32_t>::min(),
      .u32 = 0xdeadbeef,
      .i64 = std::numeric_limits<std::int64_t>::min(),
      .u64 = std::numeric_limits<std::uint64_t>::max(),
      .current = mode::busy,
      .depth = low,
      .ratio = 0.25f,
      .mean = -1234.5678,
      .text = std::string("with a\0nul and \xff", 16),
      .numbers = {-1, 0, 1, 1 << 30},
      .words = {"", "one", "two words"},
      .bits = {true, false, true, true, false},
      .some = 42,
      .none = std::nullopt,
      .triple = {{7, -8, 9}},
      .tagged = {3, "three"},
      .primary = {"::1", 443},
      .others = {{"10.0.0.1", 80}, {"", 0}},
      .backup = std::vector<endpoint>{{"backup", 8080}},
      .names = {2, {{"first", "second"}}},
  };
}

struct rich_plugin {
  static constexpr cluster::fixed_string name = "rich";
  using handover = rich;
  static constexpr std::uint32_t handover_version = 3;
  rich sent{};
  std::optional<rich> received;
  template <class Master>
  void on(cluster::events::restarting const& ev, Master&) {
    ev.state.put<rich_plugin>(sent);
  }
  template <class Master>
  void on(cluster::events::restart const& ev, Master&) {
    received = ev.state.get<rich_plugin>();
  }
};

// The plugin of the documentation, word for word.
struct my_plugin {
  static constexpr cluster::fixed_string name = "my plugin";
  struct handover {
    std::uint64_t served;
    std::string note;
    std::vector<int> ids;
  };
  static constexpr std::uint32_t handover_version = 2;
  std::optional<handover> received;
  template <class M>
  void on(cluster::events::restarting const& ev, M&) {
    ev.state.put<my_plugin>({42, "x", {1, 2}});
  }
  template <class M>
  void on(cluster::events::restart const& ev, M&) {
    if (auto h = ev.state.get<my_plugin>()) received = h;
  }
};

// One name across builds: the same plugin at other versions and layouts.
struct counter_v1 {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    std::uint64_t served;
  };
  static constexpr std::uint32_t handover_version = 1;
};
struct counter_v2 {
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    std::uint64_t served;
    std::string note;
  };
  static constexpr std::uint32_t handover_version = 2;
};
struct counter_v2_reordered {  // fields swapped, version not raised
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    std::string note;
    std::uint64_t served;
  };
  static constexpr std::uint32_t handover_version = 2;
};
struct counter_v2_narrower {  // a field narrowed, version not raised
  static constexpr cluster::fixed_string name = "counter";
  struct handover {
    std::uint32_t served;
    std::string note;
  };
  static constexpr std::uint32_t handover_version = 2;
};

struct words_plugin {  // a handover that is not an aggregate
  static constexpr cluster::fixed_string name = "words";
  using handover = std::vector<std::string>;
  static constexpr std::uint32_t handover_version = 1;
};

struct marker_plugin {  // hands over only the fact that it was there
  static constexpr cluster::fixed_string name = "marker";
  struct handover {};
  static constexpr std::uint32_t handover_version = 1;
};

struct numbers {
  float f;
  double d;
};
struct numbers_plugin {
  static constexpr cluster::fixed_string name = "numbers";
  using handover = numbers;
  static constexpr std::uint32_t handover_version = 1;
};

using flags = std::pair<bool, std::optional<std::uint8_t>>;
struct flags_plugin {
  static constexpr cluster::fixed_string name = "flags";
  using handover = flags;
  static constexpr std::uint32_t handover_version = 1;
};

struct fake_master {};

//=== the wire format, written out by hand ===//

std::string le(std::uint64_t value, std::size_t width) {
  std::string out;
  for (std::size_t i = 0; i != width; ++i)
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  return out;
}
std::string u32(std::uint32_t value) { return le(value, 4); }
std::string u64(std::uint64_t value) { return le(value, 8); }
std::string text(std::string_view s) { return u64(s.size()) + std::string(s); }

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

struct raw_part {
  std::string name;
  std::uint32_t version;
  std::uint64_t fingerprint;
  std::string payload;
};

std::string envelope(std::uint32_t format, std::vector<raw_part> const& parts) {
  std::string out("CLUSTER\0", 8);
  out += u32(format) + u32(static_cast<std::uint32_t>(parts.size()));
  for (auto const& p : parts)
    out += text(p.name) + u32(p.version) + u64(p.fingerprint) + text(p.payload);
  return out;
}

std::string const counter_v2_layout = "{u64,str}";

//=== helpers ===//

template <class... Plugins>
std::string hand_over(Plugins&... plugins) {
  cluster::restart_state state;
  fake_master master;
  cluster::dispatch(cluster::events::restarting{state}, master, plugins...);
  return state.serialize();
}

template <class... Plugins>
cluster::restart_state take_over(std::string_view bytes, Plugins&... plugins) {
  cluster::restart_state state = cluster::restart_state::parse(bytes);
  fake_master master;
  cluster::dispatch(cluster::events::restart{state}, master, plugins...);
  return state;
}

bool refused_whole(cluster::restart_state const& state) {
  return state.empty() && state.problems().size() == 1 &&
         state.problems()[0].starts_with("cluster: restart: the previous master's state ") &&
         state.problems()[0].ends_with(", so this master starts without it") &&
         state.problems()[0].find('\n') == std::string::npos;
}

}  // namespace

//=== round trips ===//

TEST_CASE("a rich handover survives serialize and parse, through the plugin hooks") {
  rich_plugin before;
  before.sent = sample();
  std::string const bytes = hand_over(before);

  rich_plugin after;
  auto const state = take_over(bytes, after);
  REQUIRE(after.received.has_value());
  CHECK(*after.received == sample());
  CHECK(state.problems().empty());
}

TEST_CASE("the documented plugin compiles as written and gets its value back") {
  my_plugin before;
  my_plugin after;
  auto const state = take_over(hand_over(before), after);
  REQUIRE(after.received.has_value());
  CHECK(after.received->served == 42);
  CHECK(after.received->note == "x");
  CHECK(after.received->ids == std::vector<int>{1, 2});
  CHECK(state.problems().empty());
}

TEST_CASE("two plugins each get their own part, whatever order they are used in") {
  rich_plugin rich_before;
  rich_before.sent = sample();
  my_plugin mine_before;
  std::string const bytes = hand_over(rich_before, mine_before);

  rich_plugin rich_after;
  my_plugin mine_after;
  auto const state = take_over(bytes, mine_after, rich_after);
  REQUIRE(rich_after.received.has_value());
  CHECK(*rich_after.received == sample());
  REQUIRE(mine_after.received.has_value());
  CHECK(mine_after.received->served == 42);
  CHECK(state.problems().empty());
}

TEST_CASE("a part put twice keeps the last value") {
  cluster::restart_state once;
  once.put<counter_v1>({2});
  cluster::restart_state twice;
  twice.put<counter_v1>({1});
  twice.put<counter_v1>({2});
  CHECK(twice.serialize() == once.serialize());
  auto const h = cluster::restart_state::parse(twice.serialize()).get<counter_v1>();
  REQUIRE(h.has_value());
  CHECK(h->served == 2);
}

TEST_CASE("a handover may be a plain vector, or an empty struct") {
  cluster::restart_state state;
  state.put<words_plugin>({"a", "", "b c"});
  state.put<marker_plugin>({});
  auto const parsed = cluster::restart_state::parse(state.serialize());
  CHECK(parsed.get<words_plugin>() == std::vector<std::string>{"a", "", "b c"});
  CHECK(parsed.get<marker_plugin>().has_value());
  CHECK(parsed.problems().empty());
}

TEST_CASE("floating-point values keep their exact bits") {
  float const floats[] = {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::denorm_min()};
  double const doubles[] = {
      -0.0, std::numeric_limits<double>::max(), -std::numeric_limits<double>::infinity(),
      std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::denorm_min()};
  for (float f : floats) {
    for (double d : doubles) {
      cluster::restart_state state;
      state.put<numbers_plugin>({f, d});
      auto const h = cluster::restart_state::parse(state.serialize()).get<numbers_plugin>();
      REQUIRE(h.has_value());
      CHECK(std::bit_cast<std::uint32_t>(h->f) == std::bit_cast<std::uint32_t>(f));
      CHECK(std::bit_cast<std::uint64_t>(h->d) == std::bit_cast<std::uint64_t>(d));
    }
  }
}

TEST_CASE("an empty state serialises and parses to an empty state, without problems") {
  cluster::restart_state const none;
  CHECK(none.empty());
  CHECK(none.serialize() == envelope(1, {}));
  auto const parsed = cluster::restart_state::parse(none.serialize());
  CHECK(parsed.empty());
  CHECK(parsed.problems().empty());
}

//=== the format ===//

TEST_CASE("the bytes are the documented format: little-endian, lengths first") {
  cluster::restart_state state;
  state.put<counter_v2>({0x0102030405060708, "ab"});
  std::string const payload = u64(0x0102030405060708) + text("ab");
  CHECK(state.serialize() == envelope(1, {{"counter", 2, fnv1a(counter_v2_layout), payload}}));
  CHECK(std::string_view(state.serialize()).substr(0, 12) ==
        std::string_view("CLUSTER\0\1\0\0\0", 12));
}

TEST_CASE("the fingerprint hashes a description of the fields' types") {
  using cluster::detail::wire::description;
  CHECK(description<my_plugin::handover>() == "{u64,str,[i32]}");
  CHECK(description<counter_v2::handover>() == counter_v2_layout);
  CHECK(description<endpoint>() == "{str,u16}");
  CHECK(description<std::optional<std::array<std::int16_t, 4>>>() == "?[i16;4]");
  CHECK(description<std::pair<bool, double>>() == "(b,f64)");
  CHECK(description<mode>() == "eu8");
  CHECK(description<level>() == "ei16");
  CHECK(description<marker_plugin::handover>() == "{}");
  CHECK(cluster::detail::wire::fingerprint<my_plugin::handover> == fnv1a("{u64,str,[i32]}"));
  CHECK(cluster::detail::wire::fingerprint<counter_v2::handover> !=
        cluster::detail::wire::fingerprint<counter_v2_reordered::handover>);
}

//=== parts refused by get() ===//

TEST_CASE("an absent part is empty, and no problem") {
  my_plugin before;
  rich_plugin after;
  auto const state = take_over(hand_over(before), after);
  CHECK_FALSE(after.received.has_value());
  CHECK(state.problems().empty());
}

TEST_CASE("a part of another handover_version is refused, with both versions named") {
  cluster::restart_state old;
  old.put<counter_v1>({7});
  auto const state = cluster::restart_state::parse(old.serialize());
  CHECK_FALSE(state.get<counter_v2>().has_value());
  CHECK_FALSE(state.get<counter_v2>().has_value());  // asked twice, told once
  REQUIRE(state.problems().size() == 1);
  CHECK(state.problems()[0] ==
        "cluster: restart: the previous master handed plugin \"counter\" its state in handover "
        "version 1; this build reads version 2, so the plugin starts without it");
  // The part itself is intact: the build that wrote it still reads it.
  REQUIRE(state.get<counter_v1>().has_value());
  CHECK(state.get<counter_v1>()->served == 7);
}

TEST_CASE("a part of the same version but another layout is refused") {
  cluster::restart_state old;
  old.put<counter_v2>({7, "note"});
  auto const bytes = old.serialize();
  auto const reordered = cluster::restart_state::parse(bytes);
  CHECK_FALSE(reordered.get<counter_v2_reordered>().has_value());
  REQUIRE(reordered.problems().size() == 1);
  CHECK(reordered.problems()[0] ==
        "cluster: restart: the previous master handed plugin \"counter\" its state in handover "
        "version 2 but with another layout than this build's version 2 (its handover type "
        "changed without a new handover_version), so the plugin starts without it");
  auto const narrower = cluster::restart_state::parse(bytes);
  CHECK_FALSE(narrower.get<counter_v2_narrower>().has_value());
  CHECK(narrower.problems().size() == 1);
}

TEST_CASE("a payload that does not read as the handover type is refused") {
  std::string const fingerprint_input = counter_v2_layout;
  auto part = [&](std::string payload) {
    return envelope(1, {{"counter", 2, fnv1a(fingerprint_input), std::move(payload)}});
  };
  std::string const problem =
      "cluster: restart: the previous master's state for plugin \"counter\" (handover version 2) "
      "does not read as this build's handover type, so the plugin starts without it";
  SECTION("a string longer than the payload") {
    auto const state = cluster::restart_state::parse(part(u64(7) + u64(1000) + "ab"));
    CHECK_FALSE(state.get<counter_v2>().has_value());
    CHECK(state.problems() == std::vector<std::string>{problem});
  }
  SECTION("bytes left over") {
    auto const state = cluster::restart_state::parse(part(u64(7) + text("ab") + "!"));
    CHECK_FALSE(state.get<counter_v2>().has_value());
    CHECK(state.problems() == std::vector<std::string>{problem});
  }
  SECTION("a bool that is neither 0 nor 1, an optional tag that is neither 0 nor 1") {
    auto const bools = cluster::restart_state::parse(envelope(
        1, {{"numbers", 1, cluster::detail::wire::fingerprint<numbers>, std::string(12, '\0')}}));
    CHECK(bools.get<numbers_plugin>().has_value());  // the control: twelve zero bytes read
    auto const fp = cluster::detail::wire::fingerprint<flags>;
    auto const good = cluster::restart_state::parse(envelope(1, {{"flags", 1, fp, "\1\1\7"}}));
    CHECK(good.get<flags_plugin>() == flags{true, 7});
    auto const bad_bool =
        cluster::restart_state::parse(envelope(1, {{"flags", 1, fp, std::string("\2\0", 2)}}));
    CHECK_FALSE(bad_bool.get<flags_plugin>().has_value());
    auto const bad_tag = cluster::restart_state::parse(envelope(1, {{"flags", 1, fp, "\1\2\7"}}));
    CHECK_FALSE(bad_tag.get<flags_plugin>().has_value());
  }
  SECTION("a vector count that the rest cannot hold is refused before any allocation") {
    auto const state = cluster::restart_state::parse(
        envelope(1, {{"words", 1, cluster::detail::wire::fingerprint<std::vector<std::string>>,
                      u64(std::uint64_t{1} << 60)}}));
    CHECK_FALSE(state.get<words_plugin>().has_value());
    CHECK(state.problems().size() == 1);
  }
}

//=== states refused by parse() ===//

TEST_CASE("a state of an unknown format is refused whole") {
  auto const state = cluster::restart_state::parse(
      envelope(3, {{"counter", 2, fnv1a(counter_v2_layout), u64(7) + text("")}}));
  CHECK(refused_whole(state));
  CHECK(state.problems()[0] ==
        "cluster: restart: the previous master's state is in format 3; this build reads format 1, "
        "so this master starts without it");
  CHECK_FALSE(state.get<counter_v2>().has_value());
}

TEST_CASE("a truncated state is refused whole at every length, never read past its end") {
  rich_plugin rich_before;
  rich_before.sent = sample();
  my_plugin mine_before;
  std::string const bytes = hand_over(rich_before, mine_before);
  REQUIRE_FALSE(cluster::restart_state::parse(bytes).empty());

  for (std::size_t n = 0; n != bytes.size(); ++n) {
    // A copy of exactly n bytes, so that the sanitizers see any read past them.
    std::vector<char> const prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    rich_plugin rich_after;
    my_plugin mine_after;
    auto const state = take_over(std::string_view(prefix.data(), n), rich_after, mine_after);
    INFO("first " << n << " of " << bytes.size() << " bytes");
    REQUIRE(refused_whole(state));
    CHECK_FALSE(rich_after.received.has_value());
    CHECK_FALSE(mine_after.received.has_value());
  }
  CHECK(cluster::restart_state::parse("").problems()[0] ==
        "cluster: restart: the previous master's state is empty, so this master starts without "
        "it");
  CHECK(cluster::restart_state::parse(std::string_view(bytes).substr(0, 10)).problems()[0] ==
        "cluster: restart: the previous master's state ends too early (at byte 10, inside the "
        "header), so this master starts without it");
}

TEST_CASE("a state cut in a part, with bytes after its end, or a name twice is refused") {
  std::string const one = envelope(1, {{"counter", 1, fnv1a("{u64}"), u64(7)}});
  REQUIRE(cluster::restart_state::parse(one).get<counter_v1>().has_value());
  auto const cut = cluster::restart_state::parse(std::string_view(one).substr(0, one.size() - 1));
  std::string const at = std::to_string(one.size() - 1);
  CHECK(refused_whole(cut));
  CHECK(cut.problems()[0] ==
        "cluster: restart: the previous master's state ends too early (at byte " + at +
            ", inside part 1 of 1), so this master starts without it");
  auto const trailing = cluster::restart_state::parse(one + "xyz");
  CHECK(refused_whole(trailing));
  CHECK(trailing.problems()[0] ==
        "cluster: restart: the previous master's state has 3 unexpected bytes after its last part, "
        "so this master starts without it");

  auto const twice = cluster::restart_state::parse(envelope(
      1, {{"counter", 1, fnv1a("{u64}"), u64(7)}, {"counter", 1, fnv1a("{u64}"), u64(8)}}));
  CHECK(refused_whole(twice));
}

TEST_CASE("bytes that are not a restart state are refused whole") {
  auto const text = cluster::restart_state::parse("GET / HTTP/1.1\r\n");
  CHECK(refused_whole(text));
  CHECK(text.problems()[0] ==
        "cluster: restart: the previous master's state does not start with the marker of a "
        "cluster restart state, so this master starts without it");
}

TEST_CASE("random garbage is refused whole") {
  std::mt19937 random(20240601);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<std::size_t> length(0, 300);
  std::string const header("CLUSTER\0\1\0\0\0", 12);
  for (int i = 0; i != 3000; ++i) {
    std::string garbage = i % 2 == 0 ? std::string() : header;  // half of them get past the header
    for (std::size_t n = length(random); n != 0; --n)
      garbage.push_back(static_cast<char>(byte(random)));
    std::vector<char> const exact(garbage.begin(), garbage.end());
    auto const state = cluster::restart_state::parse(std::string_view(exact.data(), exact.size()));
    INFO("garbage #" << i << " of " << garbage.size() << " bytes");
    // A random count of parts almost never matches the bytes that follow it exactly.
    REQUIRE(state.problems().size() == 1);
    CHECK(refused_whole(state));
  }
}

TEST_CASE("damaged bytes are refused or read, never misread into a crash") {
  rich_plugin rich_before;
  rich_before.sent = sample();
  my_plugin mine_before;
  std::string const bytes = hand_over(rich_before, mine_before);

  std::mt19937 random(7);
  std::uniform_int_distribution<std::size_t> where(0, bytes.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  int refused = 0;
  int read = 0;
  for (int i = 0; i != 4000; ++i) {
    std::string damaged = bytes;
    for (int k = 0; k != 1 + i % 3; ++k) damaged[where(random)] = static_cast<char>(byte(random));
    std::vector<char> const exact(damaged.begin(), damaged.end());
    rich_plugin rich_after;
    my_plugin mine_after;
    auto const state =
        take_over(std::string_view(exact.data(), exact.size()), rich_after, mine_after);
    if (state.empty()) {
      CHECK(refused_whole(state));
      ++refused;
    } else {
      // A part that was read is exactly one the old master wrote, or a problem says why not.
      for (auto const& line : state.problems()) CHECK(line.starts_with("cluster: restart: "));
      read += rich_after.received.has_value() + mine_after.received.has_value();
    }
  }
  CHECK(refused > 0);
  CHECK(read > 0);
}
