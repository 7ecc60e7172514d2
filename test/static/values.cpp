// SPDX-License-Identifier: BSL-1.0
// The good twins of the compile-fail cases about setting values: the same calls, done right.
#include <cluster/config.hpp>

#include <chrono>
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
