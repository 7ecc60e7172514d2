// SPDX-License-Identifier: BSL-1.0
// The resolved configuration is plain data: no hidden members, no virtual calls, no std::function.
#include <cluster/config.hpp>
#include <cluster/this_worker.hpp>

#include <array>
#include <functional>
#include <span>
#include <string_view>
#include <type_traits>

namespace zero_overhead {

struct app {};

// A plugin that handles one event and keeps a counter, and one that handles nothing.
struct counting {
  static constexpr cluster::fixed_string name = "counting";
  long started = 0;
  template <class Master>
  constexpr void on(cluster::events::start const&, Master&) {
    ++started;
  }
};
struct silent {
  static constexpr cluster::fixed_string name = "silent";
};

inline auto const config = cluster::cluster<app>()
                               .set<"workers">(2)
                               .use(silent{})
                               .in<"development">()
                               .listen(3000)
                               .in<"production">()
                               .use(counting{})
                               .listen(80)
                               .listen(443, "::1");

using development = decltype(config.resolve<"development">());
using production = decltype(config.resolve<"production">());

// The parts a resolved configuration must hold, and nothing else: the builder it refers to, the
// environment name, the command line, the built-in settings and the listeners; the plugins take
// no room when they hold no state.
constexpr std::size_t fixed_parts = sizeof(void const*) + sizeof(std::string_view) +
                                    sizeof(std::span<char* const>) + sizeof(cluster::core_settings);

static_assert(sizeof(development) == fixed_parts + 1 * sizeof(cluster::endpoint),
              "a configuration with stateless plugins is exactly its settings and listeners");
static_assert(sizeof(production) == fixed_parts + 2 * sizeof(cluster::endpoint) + sizeof(counting),
              "a plugin with state adds exactly its own size");

static_assert(!std::is_polymorphic_v<development> && !std::is_polymorphic_v<production>);
static_assert(std::is_trivially_copyable_v<development> &&
              std::is_trivially_copyable_v<production>);
static_assert(std::is_trivially_copyable_v<cluster::core_settings>);
static_assert(std::is_trivially_copyable_v<cluster::endpoint>);

// Plugins are the user's own types in a tuple, in the order they were used.
static_assert(std::is_same_v<std::remove_cvref_t<decltype(std::declval<production&>().plugins())>,
                             boost::hana::basic_tuple<silent, counting>>);
static_assert(std::is_same_v<std::remove_cvref_t<decltype(std::declval<development&>().plugins())>,
                             boost::hana::basic_tuple<silent>>);
static_assert(!std::is_same_v<std::remove_cvref_t<decltype(std::declval<production&>().plugins())>,
                              boost::hana::basic_tuple<std::function<void()>>>);

// Settings have their declared types, resolved at compile time.
static_assert(std::is_same_v<decltype(std::declval<production>().get<"workers">()), unsigned>);
static_assert(std::is_same_v<decltype(std::declval<production>().get<"timeout">()),
                             std::chrono::milliseconds>);

// Dispatch is a compile-time fold: it runs in a constant expression, so it involves no virtual
// call through a registry, no std::function and no allocation; a policy that ignores the event
// is skipped.
struct fake_master {};
constexpr long dispatched() {
  counting a;
  silent b;
  counting c;
  fake_master m;
  cluster::dispatch(cluster::events::start{}, m, a, b, c);
  cluster::dispatch(cluster::events::close{}, m, a, b, c);
  return a.started + c.started;
}
static_assert(dispatched() == 2);
static_assert(cluster::handles<counting, cluster::events::start, fake_master>);
static_assert(!cluster::handles<counting, cluster::events::close, fake_master>);
static_assert(!cluster::handles<silent, cluster::events::start, fake_master>);

// Events delivered in workers go to a worker's plugins only when one handles them: a
// configuration whose plugins ignore client_request compiles its HTTP session without the
// request details (worker_hooks<Config>::wants is false, and `if constexpr` drops the code).
struct per_request {
  static constexpr cluster::fixed_string name = "per request";
  long requests = 0;
  constexpr void on(cluster::events::client_request const&, cluster::this_worker&) { ++requests; }
};
inline auto const with_requests = cluster::cluster<app>().use(per_request{}).listen(0);
using counted = decltype(with_requests.resolve<"development">());
static_assert(counted::handles_event<cluster::events::client_request, cluster::this_worker>);
static_assert(!counted::handles_event<cluster::events::client_connection, cluster::this_worker>);
// A handler taking this_worker& is never called with the master.
static_assert(production::handles_event<cluster::events::start, fake_master>);
static_assert(!production::handles_event<cluster::events::client_request, cluster::this_worker>);
static_assert(!counted::handles_event<cluster::events::client_request, fake_master>);

}  // namespace zero_overhead

namespace zero_overhead_slots {

// Single-slot policies are found by their tag, wherever they stand, with a default otherwise.
struct signals_slot {};
struct default_signals {};
struct container_signals {
  static constexpr cluster::fixed_string name = "container signals";
  using policy_slot = signals_slot;
};
struct plain {
  static constexpr cluster::fixed_string name = "plain";
};

using app = zero_overhead::app;
inline auto const config =
    cluster::cluster<app>().use(plain{}).listen(0).in<"production">().use(container_signals{});
using production = decltype(config.resolve<"production">());
using development = decltype(config.resolve<"development">());
static_assert(
    std::is_same_v<production::slot_type<signals_slot, default_signals>, container_signals>);
static_assert(
    std::is_same_v<development::slot_type<signals_slot, default_signals>, default_signals>);

}  // namespace zero_overhead_slots
