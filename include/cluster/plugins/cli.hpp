// SPDX-License-Identifier: BSL-1.0
// The cli plugin: the program doubles as its own control tool (`./server status`), talking to the
// running master over its control socket; commands of the program's own join the built-in ones.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/control/command.hpp>
#include <cluster/linkage.hpp>
#include <cluster/plugin.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/plugins/stats/http.hpp>

#include <charconv>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace cluster {

struct stats;

namespace detail::control {

class server;

/// The names the built-in commands and options take; a command of the program's own may not.
inline constexpr std::string_view builtin_names[] = {
    "status",    "stats",  "shutdown",  "stop",    "restart",   "restart-workers",
    "spawn",     "kill",   "start",     "help",    "-h",        "--help",
    "--version", "--json", "--no-wait", "console", "completion"};

/// True when `name` is a usable command name: 1 to 32 lowercase letters, digits and dashes,
/// starting with a letter, and not a built-in name.
consteval bool valid_command_name(std::string_view name) {
  if (name.empty() || name.size() > 32 || name[0] < 'a' || name[0] > 'z') return false;
  for (char const c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

consteval bool builtin_command_name(std::string_view name) {
  for (auto const b : builtin_names)
    if (b == name) return true;
  return false;
}

/// How many words `arguments` names ("NAME COUNT": 2).
consteval std::size_t word_count(std::string_view arguments) {
  std::size_t n = 0;
  bool in_word = false;
  for (char const c : arguments) {
    if (c == ' ') {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++n;
    }
  }
  return n;
}

/// The parameter types of a handler after its `master_api&`.
template <class F>
struct handler_traits {
  static constexpr bool known = false;
  using result = void;
  using parameters = std::tuple<>;
};
template <class F>
requires requires { &F::operator(); }
struct handler_traits<F> : handler_traits<decltype(&F::operator())> {};
template <class R, class... A>
struct handler_traits<R (*)(A...)> {
  static constexpr bool known = true;
  using result = R;
  using parameters = std::tuple<A...>;
};
template <class C, class R, class... A>
struct handler_traits<R (C::*)(A...) const> : handler_traits<R (*)(A...)> {};
template <class C, class R, class... A>
struct handler_traits<R (C::*)(A...)> : handler_traits<R (*)(A...)> {};

template <class T>
concept command_argument = std::same_as<T, std::string> || std::same_as<T, int> ||
    std::same_as<T, unsigned> || std::same_as<T, long long> || std::same_as<T, double>;

/// The value of `word` as a `T`; throws `std::invalid_argument` naming what was expected.
template <class T>
T argument_from(std::string const& word) {
  if constexpr (std::same_as<T, std::string>) {
    return word;
  } else {
    T value{};
    auto const [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
    if (ec != std::errc{} || end != word.data() + word.size()) {
      throw std::invalid_argument(
          std::floating_point<T>
              ? "a number"
              : "a whole number" + std::string(std::unsigned_integral<T> ? " (0 or more)" : ""));
    }
    return value;
  }
}

}  // namespace detail::control

/// A command of the program's own, declared with `cli{}.command<"name", "ARGUMENTS">(...)`.
template <fixed_string Name, fixed_string Arguments, class Handler>
struct cli_command {
  static constexpr std::string_view name_view() noexcept { return Name.view(); }
  std::string_view description;
  Handler handler;
};

namespace detail::control {

/// What the cli and repl plugins share in the master: the server of their socket, told of the
/// outcomes its waiting commands wait for. Compiled once.
class endpoint {
 public:
  /// A `restart-workers` command is answered.
  CLUSTER_DECL void on(events::rolling_restart_done const& event, master_api& /*master*/);
  /// A `restart-workers` command is answered.
  CLUSTER_DECL void on(events::rolling_restart_failed const& event, master_api& /*master*/);
  /// A `restart` command goes on waiting: the new master is being started.
  CLUSTER_DECL void on(events::restarting const& /*event*/, master_api& /*master*/);
  /// A `restart` command goes on waiting: the restart is delayed.
  CLUSTER_DECL void on(events::cyclic_restart const& event, master_api& /*master*/);
  /// A `restart` command is answered.
  CLUSTER_DECL void on(events::restart_failed const& event, master_api& /*master*/);
  /// A `restart` command is answered when the new master serves and this one begins to stop.
  CLUSTER_DECL void on(events::closing const& /*event*/, master_api& /*master*/);
  /// The master exits next: the socket closes, which ends the waits of `shutdown` and `stop`.
  CLUSTER_DECL void on(events::close const& /*event*/, master_api& /*master*/);
  /// The start was refused after the socket was opened: it closes and its file goes.
  CLUSTER_DECL void on(events::start_refused const& /*event*/, master_api& /*master*/);

 protected:
  std::chrono::steady_clock::time_point started_{};  ///< when this master started
  std::vector<user_command> commands_;               ///< the program's own
  std::weak_ptr<server> server_;
};

}  // namespace detail::control

/// What every `basic_cli` shares, compiled once: the control socket in the master, the client in
/// the program run with a command. See `basic_cli`.
class cli_base : public detail::control::endpoint {
 public:
  /// Runs the command `arguments` (argv) names, if any: its exit status, or nothing when the
  /// program is to serve (no arguments, or `start`). Called before anything of the master exists.
  CLUSTER_DECL static std::optional<int> run_command(
      std::span<char* const> arguments, core_settings const& settings,
      std::filesystem::path const& pid_directory,
      std::span<detail::control::user_command const> commands = {});

  /// The control socket's path for `socket_path` (the setting) and the pid files' `directory`.
  CLUSTER_DECL static std::filesystem::path socket_of(std::string_view socket_path,
                                                      std::filesystem::path const& directory);

  //=== the master's events ===//

  using endpoint::on;
  /// In a restarted master: takes the control socket over from its predecessor.
  CLUSTER_DECL void on(events::ready const& /*event*/, master_api& master);

 protected:
  /// Members of `group_` may use every command, members of `read_only_group_` only `status` and
  /// `pids` (names or numeric ids; empty: nobody besides root and the master's user).
  std::string group_;
  std::string read_only_group_;
  /// The file holding the HTTP endpoint's token; empty: no command over HTTP.
  std::string token_file_;

  /// Opens the control socket (a restarted master takes it over once its workers accept), and
  /// reads the HTTP token (`http`: the stats plugin's endpoint serves this plugin's routes).
  /// Throws `startup_error` when another master answers on the socket or it cannot be created,
  /// or when the token cannot be used.
  CLUSTER_DECL void start(master_api& master, std::filesystem::path const& pid_directory,
                          std::vector<detail::control::user_command> commands, bool http);

  /// The routes this plugin adds to the stats plugin's HTTP endpoint: `GET /status`, and each
  /// command as `POST /NAME` with the token.
  [[nodiscard]] CLUSTER_DECL detail::statistics::http_routes http_routes(master_api& master);

 private:
  CLUSTER_DECL void open(master_api& master, bool take_over);

  /// Answers one request of the HTTP endpoint; false when its path is not this plugin's.
  CLUSTER_DECL bool serve_http(master_api& master, detail::statistics::http_request const& r,
                               detail::statistics::responder const& respond);

  std::filesystem::path path_;  ///< the socket, absolute, once started
  bool deferred_ = false;       ///< restarted: the predecessor still answers on `path_`
  std::string token_;           ///< the HTTP token, read at start
};

/// Makes the program its own control tool: `./server status`, `./server shutdown`, and the other
/// commands of `./server --help`, answered by the running master over its control socket.
/// `cluster::cli` is this with no command of the program's own.
///
/// In the master, the plugin listens on a unix socket (the `socket path` setting; a relative
/// path is in the pid files' directory, so by default `pids/cluster.sock`), created with mode
/// 0600 before anyone can connect. Only root, the master's own user and the groups given with
/// `group()` / `read_only_group()` may use it: every connection's peer is checked
/// (`SO_PEERCRED`), and every accepted command is one line on the master's stderr. A socket file
/// nobody answers on is stale and replaced; one where a master answers stops start-up with one
/// line. Workers never hold the socket.
///
/// Run with a command, the program starts nothing of the server (no bind, no log file, no worker):
/// it asks the master and exits with a status a script can trust. Commands that change something
/// wait for the outcome: `shutdown` returns once the master has exited, `restart-workers` once
/// every worker is replaced (non-zero if a replacement failed), `restart` once the new master's
/// workers accept (non-zero, with the reason, if the old master had to keep serving).
/// `--no-wait` returns as soon as the master has accepted the command; `--json` prints one JSON
/// document on stdout and everything else on stderr. When no master answers, `status` reads the
/// pid files instead, says so, and tells stale files from live processes. With the stats plugin's
/// `metrics` endpoint, the master also answers `GET /status` there, and, given a token
/// (`http_token_file`), runs commands sent as `POST /NAME`. See docs/plugins/cli.md.
///
/// Requires `pidfiles`, used before it. Example:
/// `.use(cluster::pidfiles{}).use(cluster::cli{})`
template <class... Commands>
class basic_cli : public cli_base {
 public:
  /// The plugin's name, as diagnostics and the restart state know it.
  static constexpr fixed_string name = "cli";
  /// The pid files tell where the socket is, and which processes are there when no master
  /// answers.
  using requires_plugins = type_list<pidfiles>;
  /// With the stats plugin, `stats` prints its report.
  using optional_plugins = type_list<stats>;

  basic_cli() = default;
  basic_cli(cli_base const& base, std::tuple<Commands...> commands)
      : cli_base(base), commands_(std::move(commands)) {}

  /// This plugin, letting the members of `name` (a group name or id) use every command besides
  /// root and the master's own user: the socket is then mode 0660 and owned by that group.
  [[nodiscard]] basic_cli group(std::string_view name) const {
    basic_cli out = *this;
    out.group_ = name;
    return out;
  }

  /// This plugin, letting the members of `name` run `status` and `pids` only (monitoring): the
  /// socket is then owned by that group (0660), or, with `group()` too, mode 0666; the peer check
  /// decides.
  [[nodiscard]] basic_cli read_only_group(std::string_view name) const {
    basic_cli out = *this;
    out.read_only_group_ = name;
    return out;
  }

  /// This plugin, letting HTTP clients that send the token in `path` run commands on the stats
  /// plugin's endpoint (`.metrics`): `POST /restart` with `Authorization: Bearer TOKEN`, and so
  /// on. `GET /status` needs no token. The file must be readable by its owner only and hold
  /// one word of 16 characters or more; it is read when the master starts. Without the stats
  /// plugin and its `metrics` address, the master refuses to start.
  [[nodiscard]] basic_cli http_token_file(std::string_view path) const {
    basic_cli out = *this;
    out.token_file_ = path;
    return out;
  }

  /// This plugin with one more command of the program's own: `./server NAME ARGUMENTS...` runs
  /// `handler(master, arguments...)` in the master, whose result (text, or nothing) is the
  /// answer; an exception is a failed command, its `what()` the reason. `Arguments` names the
  /// arguments for `--help` ("NAME COUNT"); the handler takes as many after its
  /// `cluster::master_api&`, each a `std::string`, `int`, `unsigned`, `long long` or `double`,
  /// checked before it is called. Example:
  /// `cli{}.command<"greet", "NAME">("print a greeting", [](master_api&, std::string n) {...})`
  template <fixed_string Name, fixed_string Arguments = "", class Handler>
  [[nodiscard]] basic_cli<Commands..., cli_command<Name, Arguments, Handler>> command(
      std::string_view description, Handler handler) const {
    static_assert(detail::control::valid_command_name(Name.view()),
                  "cluster: a cli command's name is 1 to 32 lowercase letters, digits and dashes, "
                  "starting with a letter");
    static_assert(!detail::control::builtin_command_name(Name.view()),
                  "cluster: this cli command's name is a built-in command's; choose another name");
    static_assert(((Commands::name_view() != Name.view()) && ...),
                  "cluster: two cli commands have the same name; give each its own");
    check_handler<Arguments, Handler>();
    return basic_cli<Commands..., cli_command<Name, Arguments, Handler>>(
        *this, std::tuple_cat(commands_, std::tuple<cli_command<Name, Arguments, Handler>>{
                                             {description, std::move(handler)}}));
  }

  //=== the program as a control tool ===//

  /// Runs the command `arguments` (argv) names, if any: its exit status, or nothing when the
  /// program is to serve (no arguments, or `start`). Called before anything of the master exists.
  template <class Config>
  std::optional<int> run_command(Config& config) const {
    auto commands = table();
    if constexpr (Config::template has_plugin<stats>)
      commands.push_back(config.template plugin<stats>().control_command());
    return cli_base::run_command(config.arguments(), config.settings(),
                                 config.template plugin<pidfiles>().directory(), commands);
  }

  using cli_base::run_command;

  //=== the master's events ===//

  using cli_base::on;

  /// Opens the control socket (a restarted master takes it over once its workers accept).
  /// Throws `startup_error` when another master answers on it or it cannot be created.
  template <class Master>
  void on(events::start const& /*event*/, Master& master) {
    auto commands = table();
    bool http = false;
    if constexpr (Master::template uses<stats>) {
      auto& s = master.template plugin<stats>();
      commands.push_back(s.control_command());
      http = s.add_routes(http_routes(master));
    }
    start(master, master.template plugin<pidfiles>().directory(), std::move(commands), http);
  }

  /// The program's own commands, type-erased for the socket and the client.
  [[nodiscard]] std::vector<detail::control::user_command> table() const {
    return std::apply(
        [](auto const&... c) { return std::vector<detail::control::user_command>{entry(c)...}; },
        commands_);
  }

 private:
  template <class... Others>
  friend class basic_cli;

  template <fixed_string Arguments, class Handler>
  static consteval void check_handler() {
    using traits = detail::control::handler_traits<Handler>;
    static_assert(traits::known,
                  "cluster: a cli command's handler is a function or a lambda without auto "
                  "parameters, taking (cluster::master_api&, arguments...)");
    if constexpr (traits::known) {
      static_assert(std::is_void_v<typename traits::result> ||
                        std::is_convertible_v<typename traits::result, std::string>,
                    "cluster: a cli command's handler returns text (its answer) or nothing");
      check_parameters<Arguments>(static_cast<typename traits::parameters*>(nullptr));
    }
  }

  template <fixed_string Arguments, class... Parameters>
  static consteval void check_parameters(std::tuple<Parameters...>* /*types*/) {
    constexpr bool master_first = [] {
      if constexpr (sizeof...(Parameters) == 0) {
        return false;
      } else {
        return std::same_as<std::tuple_element_t<0, std::tuple<Parameters...>>, master_api&>;
      }
    }();
    static_assert(master_first,
                  "cluster: a cli command's handler takes cluster::master_api& first");
    if constexpr (master_first)
      check_arguments<Arguments>(static_cast<std::tuple<Parameters...>*>(nullptr));
  }

  template <fixed_string Arguments, class First, class... Rest>
  static consteval void check_arguments(std::tuple<First, Rest...>* /*types*/) {
    static_assert(sizeof...(Rest) == detail::control::word_count(Arguments.view()),
                  "cluster: a cli command's handler takes as many arguments as its declaration "
                  "names (command<\"name\", \"ARG1 ARG2\">)");
    static_assert((detail::control::command_argument<std::remove_cvref_t<Rest>> && ...),
                  "cluster: a cli command's arguments are std::string, int, unsigned, long long "
                  "or double");
  }

  template <fixed_string Name, fixed_string Arguments, class Handler>
  static detail::control::user_command entry(cli_command<Name, Arguments, Handler> const& c) {
    using parameters = typename detail::control::handler_traits<Handler>::parameters;
    constexpr std::size_t count = std::tuple_size_v<parameters> - 1;
    return {Name.view(), Arguments.view(), c.description, count,
            [h = c.handler](master_api& master, std::vector<std::string> const& words) mutable {
              return call(h, master, words, std::make_index_sequence<count>{});
            }};
  }

  template <class Handler, std::size_t... I>
  static std::string call(Handler& handler, master_api& master,
                          std::vector<std::string> const& words,
                          std::index_sequence<I...> /*arguments*/) {
    using parameters = typename detail::control::handler_traits<Handler>::parameters;
    [[maybe_unused]] auto const one = [&]<std::size_t J>() {
      using T = std::remove_cvref_t<std::tuple_element_t<J + 1, parameters>>;
      try {
        return detail::control::argument_from<T>(words.at(J));
      } catch (std::invalid_argument const& e) {
        throw std::invalid_argument("argument " + std::to_string(J + 1) + " must be " + e.what() +
                                    ", not '" + words.at(J) + "'");
      }
    };
    auto arguments = std::tuple{one.template operator()<I>()...};
    using result = typename detail::control::handler_traits<Handler>::result;
    if constexpr (std::is_void_v<result>) {
      std::apply([&](auto&... a) { handler(master, a...); }, arguments);
      return "done";
    } else {
      return std::string(std::apply([&](auto&... a) { return handler(master, a...); }, arguments));
    }
  }

  std::tuple<Commands...> commands_;
};

/// The cli plugin with the built-in commands only; `cluster::cli{}.command<...>(...)` adds some.
using cli = basic_cli<>;

}  // namespace cluster

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/plugins/impl/cli.ipp>
#endif
