// SPDX-License-Identifier: BSL-1.0
// Resolution of one environment: overrides, defaults, runtime values, plugins, actions, listeners.
#include <cluster/config.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

struct app {};

struct recorder {
  static constexpr cluster::fixed_string name = "recorder";
  std::vector<std::string>* log = nullptr;
  char const* tag = "";
  template <class Master>
  void on(cluster::events::start const&, Master&) {
    log->push_back(std::string{tag} + ":start");
  }
  template <class Master>
  void on(cluster::events::worker_spawned const& ev, Master&) {
    log->push_back(std::string{tag} + ":worker " + std::to_string(ev.id));
  }
};

struct other {
  static constexpr cluster::fixed_string name = "other";
  std::vector<std::string>* log = nullptr;
  template <class Master>
  void on(cluster::events::start const&, Master&) {
    log->push_back("other:start");
  }
};

struct needs_recorder {
  static constexpr cluster::fixed_string name = "needs recorder";
  using requires_plugins = cluster::type_list<recorder>;
};

struct fake_master {};

/// A server built in the master: an abstract one, with state the workers would read.
struct preloaded_job {
  int runs = 0;
  std::vector<int> table;
  void work() { ++runs; }
};

}  // namespace

template <>
struct cluster::setting<"resolve test port"> {
  using value_type = std::uint16_t;
  static constexpr char const* expects = "a port number";
};

template <>
struct cluster::setting<"greeting"> {
  using value_type = std::string_view;
  static constexpr char const* expects = "a non-empty greeting";
  static constexpr bool check(std::string_view s) { return !s.empty(); }
  static constexpr value_type default_value = "hello";
};

TEST_CASE("an environment's own value overrides the value for all environments, in any order") {
  auto const config = cluster::cluster<app>()
                          .set<"workers">(2)
                          .in<"production">()
                          .set<"workers">(8)
                          .set<"backlog">(1024)
                          .in<"all">()
                          .set<"backlog">(64)
                          .listen(0);
  auto const production = config.resolve<"production">();
  CHECK(production.settings().workers == 8);
  CHECK(production.settings().backlog == 1024);
  auto const development = config.resolve<"development">();
  CHECK(development.settings().workers == 2);
  CHECK(development.settings().backlog == 64);
}

TEST_CASE("settings not given take their defaults, some depending on the environment") {
  auto const config =
      cluster::cluster<app>().in<"development">().listen(0).in<"production">().listen(0);
  auto const development = config.resolve<"development">();
  auto const production = config.resolve<"production">();
  CHECK(development.settings().workers == cluster::detail::cpu_count());
  CHECK(development.settings().workers >= 1);
  CHECK(development.settings().timeout == std::chrono::milliseconds{60000});
  CHECK(development.settings().backlog == 128);
  CHECK(development.settings().title == "cluster master");
  CHECK(development.settings().worker_title == "cluster worker {n}");
  CHECK_FALSE(development.settings().user.given());
  CHECK(development.settings().restart_threshold == std::chrono::milliseconds{5000});
  CHECK(production.settings().restart_threshold == std::chrono::milliseconds{60000});
  CHECK(production.settings().restart_timeout == std::chrono::milliseconds{60000});
  CHECK_FALSE(development.settings().working_directory.empty());
  CHECK(development.settings().working_directory.front() == '/');
}

TEST_CASE("values of every kind arrive typed") {
  using namespace std::chrono_literals;
  auto const config = cluster::cluster<app>()
                          .set<"timeout">(2s)
                          .set<"restart threshold">(250)
                          .set<"title">("app master")
                          .set<"worker title">("app worker {n}")
                          .set<"user">("nobody")
                          .set<"group">(65534)
                          .set<"working directory">("/srv")
                          .set<"socket path">("/run/app.sock")
                          .listen(0);
  auto const r = config.resolve<"development">();
  CHECK(r.settings().timeout == 2000ms);
  CHECK(r.settings().restart_threshold == 250ms);
  CHECK(r.settings().title == "app master");
  CHECK(r.settings().worker_title == "app worker {n}");
  CHECK(r.settings().user == cluster::identity{"nobody", -1});
  CHECK(r.settings().group == cluster::identity{{}, 65534});
  CHECK(r.settings().working_directory == "/srv");
  CHECK(r.settings().socket_path == "/run/app.sock");
}

TEST_CASE("a key declared by the user is set and read like a built-in one") {
  auto const plain = cluster::cluster<app>().listen(0);
  CHECK(plain.resolve<"development">().get<"greeting">() == "hello");
  auto const config = cluster::cluster<app>().set<"greeting">("hi").listen(0);
  CHECK(config.resolve<"development">().get<"greeting">() == "hi");
}

TEST_CASE("runtime values are checked at start-up with a one-line message") {
  unsigned workers = 0;
  auto const bad = cluster::cluster<app>().set<"workers">(cluster::runtime(workers)).listen(0);
  CHECK_THROWS_WITH(
      bad.resolve<"development">(),
      "cluster: .set<\"workers\">(cluster::runtime(...)) expects a count of at least 1");

  workers = 3;
  auto const good = cluster::cluster<app>().set<"workers">(cluster::runtime(workers)).listen(0);
  CHECK(good.resolve<"development">().settings().workers == 3);

  auto const title =
      cluster::cluster<app>().set<"title">(cluster::runtime(std::string{"from a flag"})).listen(0);
  CHECK(title.resolve<"development">().settings().title == "from a flag");

  auto const empty =
      cluster::cluster<app>().set<"title">(cluster::runtime(std::string{})).listen(0);
  CHECK_THROWS_AS(empty.resolve<"development">(), cluster::config_error);

  auto const port = cluster::cluster<app>().listen(cluster::runtime(70000));
  CHECK_THROWS_WITH(port.resolve<"development">(),
                    "cluster: .listen(cluster::runtime(70000)) is not a port; use a number from 0 "
                    "to 65535");
}

TEST_CASE("listeners keep their order, kinds and addresses") {
  auto const config =
      cluster::cluster<app>()
          .listen(8080)
          .in<"production">()
          .listen(443, "::1")
          .listen("/run/app.sock")
          .listen(cluster::runtime(9000), cluster::runtime(std::string{"127.0.0.1"}));
  auto const development = config.resolve<"development">();
  REQUIRE(development.listeners().size() == 1);
  CHECK(development.listeners()[0] == cluster::endpoint{cluster::endpoint::kind::tcp, 8080, ""});

  auto const production = config.resolve<"production">();
  REQUIRE(production.listeners().size() == 4);
  CHECK(production.listeners()[1] == cluster::endpoint{cluster::endpoint::kind::tcp, 443, "::1"});
  CHECK(production.listeners()[2] ==
        cluster::endpoint{cluster::endpoint::kind::unix_socket, 0, "/run/app.sock"});
  CHECK(production.listeners()[3] ==
        cluster::endpoint{cluster::endpoint::kind::tcp, 9000, "127.0.0.1"});
}

TEST_CASE("each environment gets its plugins in order, and events reach them in that order") {
  std::vector<std::string> log;
  auto const config = cluster::cluster<app>()
                          .use(recorder{&log, "all"})
                          .listen(0)
                          .in<"production">()
                          .use(other{&log})
                          .use(needs_recorder{});
  fake_master master;

  auto production = config.resolve<"production">();
  production.emit(cluster::events::start{}, master);
  production.emit(cluster::events::worker_spawned{3, 42}, master);
  production.emit(cluster::events::close{}, master);
  CHECK(log == std::vector<std::string>{"all:start", "other:start", "all:worker 3"});
  STATIC_REQUIRE(decltype(production)::has_plugin<needs_recorder>);
  CHECK(production.plugin<recorder>().tag == std::string{"all"});

  log.clear();
  auto development = config.resolve<"development">();
  STATIC_REQUIRE_FALSE(decltype(development)::has_plugin<other>);
  development.emit(cluster::events::start{}, master);
  CHECK(log == std::vector<std::string>{"all:start"});
}

TEST_CASE("do_ actions run in order, only in their environment, with or without the master") {
  std::vector<int> ran;
  auto const config = cluster::cluster<app>()
                          .do_([&] { ran.push_back(1); })
                          .listen(0)
                          .in<"production">()
                          .do_([&](fake_master&) { ran.push_back(2); })
                          .in<"all">()
                          .do_([&] { ran.push_back(3); });
  fake_master master;
  config.resolve<"production">().run_actions(master);
  CHECK(ran == std::vector<int>{1, 2, 3});
  ran.clear();
  config.resolve<"development">().run_actions(master);
  CHECK(ran == std::vector<int>{1, 3});
}

TEST_CASE("an environment that matches no branch gets the calls for all environments") {
  auto const config =
      cluster::cluster<app>().set<"workers">(3).listen(0).in<"production">().set<"workers">(9);
  auto const staging = config.resolve<"">("staging");
  CHECK(staging.environment() == "staging");
  CHECK(staging.settings().workers == 3);
  CHECK(staging.settings().restart_threshold == std::chrono::milliseconds{60000});
  STATIC_REQUIRE(decltype(config)::environment_count == 1);
}

TEST_CASE("runtime values that do not fit their setting's type stop the start-up with one line") {
  using namespace std::chrono_literals;
  auto const workers =
      cluster::cluster<app>().set<"workers">(cluster::runtime(4294967297LL)).listen(0);
  CHECK_THROWS_WITH(workers.resolve<"development">(),
                    "cluster: .set<\"workers\">(cluster::runtime(4294967297)) does not fit in "
                    "unsigned; expects a count of at least 1");

  auto const backlog =
      cluster::cluster<app>().set<"backlog">(cluster::runtime(4294967295LL)).listen(0);
  CHECK_THROWS_WITH(backlog.resolve<"development">(),
                    "cluster: .set<\"backlog\">(cluster::runtime(4294967295)) does not fit in "
                    "int; expects a listen backlog of at least 1");

  auto const port =
      cluster::cluster<app>().set<"resolve test port">(cluster::runtime(70000)).listen(0);
  CHECK_THROWS_WITH(port.resolve<"development">(),
                    "cluster: .set<\"resolve test port\">(cluster::runtime(70000)) does not fit "
                    "in unsigned short; expects a port number");

  auto const never = cluster::cluster<app>()
                         .set<"timeout">(cluster::runtime(std::chrono::milliseconds::max()))
                         .listen(0);
  CHECK_THROWS_WITH(never.resolve<"development">(),
                    "cluster: .set<\"timeout\">(cluster::runtime(9223372036854775807ms)) is longer "
                    "than 146 years, more than the master's clock can add to the current time; "
                    "expects a duration of 0 ms or more");

  auto const fine = cluster::cluster<app>().set<"timeout">(cluster::runtime(1500us)).listen(0);
  CHECK_THROWS_WITH(fine.resolve<"development">(),
                    "cluster: .set<\"timeout\">(cluster::runtime(1500us)) is not a whole number "
                    "of milliseconds; expects a duration of 0 ms or more");

  auto const root = cluster::cluster<app>().set<"user">(cluster::runtime(4294967296ULL)).listen(0);
  CHECK_THROWS_WITH(root.resolve<"development">(),
                    "cluster: .set<\"user\">(cluster::runtime(4294967296)) is above 4294967294, "
                    "the largest user or group id; expects a user name or a user id of 0 or more");

  // Beyond the type on the side the key's rule forbids: the rule is the message.
  auto const negative = cluster::cluster<app>().set<"workers">(cluster::runtime(-1)).listen(0);
  CHECK_THROWS_WITH(
      negative.resolve<"development">(),
      "cluster: .set<\"workers\">(cluster::runtime(...)) expects a count of at least 1");
}

TEST_CASE("the health timers: defaults, off, and a runtime value the check cannot honour") {
  using namespace std::chrono_literals;
  auto const plain = cluster::cluster<app>().listen(0);
  CHECK(plain.resolve<"production">().settings().liveness_timeout == 30s);
  CHECK(plain.resolve<"production">().settings().boot_timeout == 60s);
  auto const off = cluster::cluster<app>()
                       .set<"liveness timeout">(0ms)
                       .set<"boot timeout">(cluster::runtime(0ms))
                       .listen(0);
  CHECK(off.resolve<"production">().settings().liveness_timeout == 0ms);
  CHECK(off.resolve<"production">().settings().boot_timeout == 0ms);
  auto const bad =
      cluster::cluster<app>().set<"liveness timeout">(cluster::runtime(250ms)).listen(0);
  CHECK_THROWS_WITH(bad.resolve<"production">(),
                    "cluster: .set<\"liveness timeout\">(cluster::runtime(...)) expects 0 ms (off) "
                    "or a duration of at least 1000 ms (the master checks every 500 ms)");
}

TEST_CASE("a request deadline not below timeout is refused at start-up, constant or runtime") {
  using namespace std::chrono_literals;
  auto const message = [](char const* deadline, char const* timeout) {
    return std::string{"cluster: the request deadline ("} + deadline +
           " ms) is not below timeout (" + timeout +
           " ms): a graceful stop would kill workers in requests still within their deadline; "
           "lower the request deadline or raise timeout";
  };
  // Above the default timeout (60 s), and equal to a timeout of one's own.
  auto const above = cluster::cluster<app>().set<"request deadline">(90s).listen(0);
  CHECK_THROWS_WITH(above.resolve<"production">(), message("90000", "60000"));
  auto const equal = cluster::cluster<app>()
                         .set<"request deadline">(cluster::runtime(5s))
                         .set<"timeout">(5s)
                         .listen(0);
  CHECK_THROWS_AS(equal.resolve<"production">(), cluster::config_error);
  CHECK_THROWS_WITH(equal.resolve<"production">(), message("5000", "5000"));
  // The environment's own timeout is the one compared.
  auto const branches = cluster::cluster<app>()
                            .set<"request deadline">(20s)
                            .listen(0)
                            .in<"production">()
                            .set<"timeout">(10s);
  CHECK_NOTHROW(branches.resolve<"development">());
  CHECK_THROWS_WITH(branches.resolve<"production">(), message("20000", "10000"));
  // Below it, a deadline off, or no grace at all (timeout 0): nothing to contradict.
  auto const below =
      cluster::cluster<app>().set<"request deadline">(4999ms).set<"timeout">(5s).listen(0);
  CHECK(below.resolve<"production">().settings().request_deadline == 4999ms);
  auto const off =
      cluster::cluster<app>().set<"request deadline">(0ms).set<"timeout">(1s).listen(0);
  CHECK_NOTHROW(off.resolve<"production">());
  auto const no_grace =
      cluster::cluster<app>().set<"request deadline">(10s).set<"timeout">(0ms).listen(0);
  CHECK_NOTHROW(no_grace.resolve<"production">());
}

TEST_CASE("runtime values that fit are read exactly, up to the largest of each type") {
  using namespace std::chrono_literals;
  auto const config =
      cluster::cluster<app>()
          .set<"workers">(cluster::runtime(4294967295ULL))
          .set<"backlog">(cluster::runtime(2147483647LL))
          .set<"timeout">(cluster::runtime(std::chrono::duration<std::uint64_t>{5}))
          .set<"restart timeout">(cluster::runtime(std::chrono::duration<double>{0.25}))
          .set<"user">(cluster::runtime(4294967294ULL))
          .set<"resolve test port">(cluster::runtime(65535))
          .listen(0);
  auto const r = config.resolve<"development">();
  CHECK(r.settings().workers == 4294967295u);
  CHECK(r.settings().backlog == 2147483647);
  CHECK(r.settings().timeout == 5000ms);
  CHECK(r.settings().restart_timeout == 250ms);
  CHECK(r.settings().user == cluster::identity{{}, 4294967294});
  CHECK(r.get<"resolve test port">() == 65535);
}

TEST_CASE("a server given as an object is copied into each resolved configuration") {
  // The builder is const, as a user's may be: the server the workers use and change is the
  // resolved configuration's own copy, so nothing writes through the const builder.
  auto const config = cluster::cluster(preloaded_job{41, {1, 2, 3}});
  auto first = config.resolve<"development">();
  STATIC_REQUIRE(std::is_same_v<decltype(first.server()), preloaded_job&>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::as_const(first).server()), preloaded_job const&>);
  CHECK(first.server().runs == 41);
  CHECK(first.server().table == std::vector<int>{1, 2, 3});
  first.server().work();
  CHECK(first.server().runs == 42);

  auto const second = config.resolve<"development">();
  CHECK(second.server().runs == 41);
}
