// SPDX-License-Identifier: BSL-1.0
// The good twins of the compile-fail cases about setting values: the same calls, done right.
#include <cluster/config.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace values_test {

using namespace std::chrono_literals;

struct app {};

struct ratio {
  int num = 1;
  int den = 1;
};

void greeting_must_not_be_empty();

}  // namespace values_test

// Twin of user_key_bad_constant.cpp: the same key with a check and a reject function.
template <>
struct cluster::setting<"values test greeting"> {
  using value_type = std::string_view;
  static constexpr char const* expects = "a non-empty greeting";
  static constexpr bool check(std::string_view text) { return !text.empty(); }
  static constexpr auto reject = &values_test::greeting_must_not_be_empty;
  static constexpr value_type default_value = "hello";
};

// Twin of user_key_wrong_type.cpp: a key with a value type of its own.
template <>
struct cluster::setting<"values test sample ratio"> {
  using value_type = values_test::ratio;
  static constexpr char const* expects = "a ratio";
};

// Twins of user_key_integer_too_big.cpp, user_key_integer_not_a_whole_number.cpp and
// user_key_bool_given_a_number.cpp: keys of the user's own with small, long and bool types.
template <>
struct cluster::setting<"values test sample port"> {
  using value_type = std::uint16_t;
  static constexpr char const* expects = "a port number";
};
template <>
struct cluster::setting<"values test retries"> {
  using value_type = long;
  static constexpr char const* expects = "a number of retries";
};
template <>
struct cluster::setting<"values test verbose"> {
  using value_type = bool;
  static constexpr char const* expects = "true or false";
};
// Twin of user_key_char_given_a_number.cpp.
template <>
struct cluster::setting<"values test separator"> {
  using value_type = char;
  static constexpr char const* expects = "a separator character";
};

namespace values_test {

// Each constant converts at compile time to the key's value type.
static_assert(cluster::value_for<"workers">(4).value == 4u);
static_assert(cluster::value_for<"backlog">(511).value == 511);
static_assert(cluster::value_for<"timeout">(30000).value == 30s);
static_assert(cluster::value_for<"timeout">(30s).value == 30000ms);
static_assert(cluster::value_for<"timeout">(0).value == 0ms);
static_assert(cluster::value_for<"restart threshold">(0).value == 0ms);
static_assert(cluster::value_for<"restart timeout">(0s).value == 0ms);
static_assert(cluster::value_for<"title">("my app").value == "my app");
static_assert(cluster::value_for<"user">("www-data").value == cluster::identity{"www-data", -1});
static_assert(cluster::value_for<"user">(33).value == cluster::identity{{}, 33});
static_assert(cluster::value_for<"group">(0).value == cluster::identity{{}, 0});
static_assert(cluster::value_for<"values test greeting">("hi").value == "hi");
static_assert(cluster::value_for<"values test sample ratio">(ratio{1, 2}).value.den == 2);

// The largest values that fit their types are taken as they are: the twins of
// workers_too_big.cpp, backlog_too_big.cpp, backlog_4294967295.cpp, user_id_too_big.cpp and
// user_key_integer_too_big.cpp.
static_assert(cluster::value_for<"workers">(4294967295LL).value == 4294967295u);
static_assert(cluster::value_for<"backlog">(2147483647LL).value == 2147483647);
static_assert(cluster::value_for<"backlog">(2147483647ULL).value == 2147483647);
static_assert(cluster::value_for<"user">(4294967294LL).value == cluster::identity{{}, 4294967294});
static_assert(cluster::value_for<"group">(4294967294ULL).value ==
              cluster::identity{{}, 4294967294});
static_assert(cluster::value_for<"values test sample port">(65535).value == 65535);
static_assert(cluster::value_for<"values test retries">(5).value == 5L);
static_assert(cluster::value_for<"values test verbose">(true).value);
static_assert(cluster::value_for<"values test separator">(',').value == ',');

// Durations of any count type and unit, read exactly: the twins of timeout_unsigned_too_long.cpp,
// timeout_overflows_milliseconds.cpp, timeout_max_milliseconds.cpp and
// timeout_not_whole_milliseconds.cpp.
static_assert(
    cluster::value_for<"timeout">(std::chrono::duration<unsigned long long, std::milli>{5}).value ==
    5ms);
static_assert(cluster::value_for<"timeout">(std::chrono::duration<std::uint64_t>{5}).value == 5s);
static_assert(cluster::value_for<"timeout">(5ULL).value == 5ms);
static_assert(cluster::value_for<"timeout">(1500ms).value == 1500ms);
static_assert(cluster::value_for<"timeout">(3000us).value == 3ms);
static_assert(cluster::value_for<"timeout">(1.5s).value == 1500ms);
static_assert(cluster::value_for<"timeout">(std::chrono::duration<double>{0.1}).value == 100ms);
static_assert(
    cluster::value_for<"timeout">(std::chrono::duration<short, std::ratio<1, 3>>{6}).value == 2s);
// The longest duration taken, 146 years and a bit, the same in milliseconds and in hours.
static_assert(cluster::value_for<"timeout">(std::chrono::years{146}).value ==
              std::chrono::years{146});
static_assert(cluster::value_for<"timeout">(std::chrono::milliseconds{4611686018427})
                  .value.count() == 4611686018427);

// unknown_key.cpp, workers_not_a_count.cpp, workers_zero.cpp
void known_key() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"workers">(4).listen(0); }

// unknown_key_runtime.cpp, runtime_wrong_type.cpp: a runtime value of the key's kind.
void runtime_value(unsigned n, std::string const& text) {
  [[maybe_unused]] auto c = cluster::cluster<app>().set<"workers">(cluster::runtime(n)).listen(0);
  [[maybe_unused]] auto d =
      cluster::cluster<app>().set<"workers">(cluster::runtime(std::stoul(text))).listen(0);
}

// backlog_not_a_whole_number.cpp, backlog_zero.cpp
void backlog() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"backlog">(511).listen(0); }

// timeout_not_a_duration.cpp, timeout_negative.cpp, restart_*_negative.cpp
void durations() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .set<"timeout">(30s)
                                .set<"restart threshold">(0)
                                .set<"restart timeout">(0s)
                                .listen(0);
  [[maybe_unused]] auto d = cluster::cluster<app>().set<"timeout">(30000).listen(0);
}

// title_not_text.cpp, title_empty.cpp
void title() { [[maybe_unused]] auto c = cluster::cluster<app>().set<"title">("my app").listen(0); }

// user_not_a_name_or_id.cpp, user_id_negative.cpp
void identities() {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().set<"user">("www-data").set<"group">(0).listen(0);
  [[maybe_unused]] auto d = cluster::cluster<app>().set<"user">(33).listen(0);
}

// user_key_bad_constant.cpp, user_key_wrong_type.cpp
void user_keys() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .set<"values test greeting">("hi")
                                .set<"values test sample ratio">(ratio{1, 2})
                                .listen(0);
}

// A value known only at run time compiles whatever it is; it is checked at start-up.
void checked_at_start_up(int workers) {
  [[maybe_unused]] auto c =
      cluster::cluster<app>().set<"workers">(cluster::runtime(workers)).listen(0);
}

}  // namespace values_test
