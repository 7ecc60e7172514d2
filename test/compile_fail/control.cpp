// expect: cluster:
// The harness's control: this program is correct, so its compile-fail test must fail (WILL_FAIL).
#include <cluster/config.hpp>
#include <cluster/plugins/reload.hpp>

#include <chrono>

using namespace std::chrono_literals;

struct app {};
struct pidfiles_like {
  static constexpr cluster::fixed_string name = "pidfiles";
};
struct patient_restarts : cluster::restart_backoff {
  static constexpr cluster::crash_loop_policy policy{
      .first_delay = 1s, .growth = 1, .max_delay = 1s, .give_up_after = 0};
};
struct cli_like {
  static constexpr cluster::fixed_string name = "cli";
  using requires_plugins = cluster::type_list<pidfiles_like>;
};

// The reload plugin's options: the good twins of reload_extension_without_dot.cpp and
// reload_quiet_negative.cpp.
[[maybe_unused]] auto const watch =
    cluster::reload{{"config"}}.extensions({".json", ".html"}).quiet(200ms).minimum_interval(0s);

int main() {
  [[maybe_unused]] auto c = cluster::cluster<app>()
                                .set<"workers">(4)
                                .set<"timeout">(30s)
                                .set<"liveness timeout">(1s)
                                .set<"boot timeout">(0s)
                                .set<"request deadline">(10s)
                                .set<"max requests">(10000)
                                .set<"max age">(1s)
                                .set<"max memory">(512)
                                .set<"recycle at once">(2)
                                .set<"user">("www-data")
                                .use(pidfiles_like{})
                                .in<"development">()
                                .set<"workers">(1)
                                .listen(3000)
                                .in<"production">()
                                .use(cli_like{})
                                .use(patient_restarts{})
                                .listen(80, "::1")
                                .listen("/run/app.sock");
}
