// SPDX-License-Identifier: BSL-1.0
// systemd: unit files derived from the program's own configuration (so that the two never
// disagree), and the watchdog's keep-alives.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/fatal.hpp>
#include <cluster/os/notify.hpp>
#include <cluster/os/process.hpp>
#include <cluster/os/startup_error.hpp>
#include <cluster/os/successor.hpp>
#include <cluster/signals.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cluster::systemd {

/// What the configuration does not know about the unit: its name, and how the program is started.
struct unit_options {
  std::string name;         ///< unit base name, e.g. "hello" (default: executable file name)
  std::string description;  ///< `Description=` (default: "<name> (cluster)")
  std::string executable;   ///< absolute path (default: /proc/self/exe resolved)
  std::vector<std::string> arguments;  ///< after argv[0]
  std::string environment;             ///< CLUSTER_ENV value to set ("" = do not set)
  bool socket_activation = true;       ///< emit Requires=/After= <name>.socket in the service
};

namespace detail {

/// `SIGQUIT` for SIGQUIT; the number as text for signals without a name, as systemd reads it.
inline std::string signal_name(int signal) {
  std::string name = os::signal_name(signal);
  return name.starts_with("SIG") ? name : std::to_string(signal);
}

/// `value` with systemd's specifiers (`%n`, `%h`, ...) made literal: `%` becomes `%%`. Control
/// characters become spaces, since a line break would end the setting.
inline std::string literal(std::string_view value) {
  std::string out;
  for (char const c : value) {
    if (c == '%') {
      out += "%%";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

/// One word of a command line (`ExecStart=`) or of `Environment=`, quoted by systemd's rules
/// (systemd.service(5), "Command lines"; systemd.syntax(7), "Quoting").
///
/// A word with a space, a quote, a backslash or a `;` is put in double quotes, and `\` and `"`
/// are escaped in it, as are control characters (C escapes); `%` becomes `%%` everywhere, and in
/// command lines `$` becomes `$$`, so that neither specifiers nor environment variables change
/// the program's arguments.
inline std::string quote(std::string_view word, bool command_line) {
  bool needs_quotes = word.empty();
  for (char const c : word) {
    auto const u = static_cast<unsigned char>(c);
    if (c == ' ' || c == '"' || c == '\'' || c == '\\' || c == ';' || u < 0x20 || u == 0x7f) {
      needs_quotes = true;
    }
  }
  std::string out;
  if (needs_quotes) out += '"';
  for (char const c : word) {
    auto const u = static_cast<unsigned char>(c);
    switch (c) {
      case '%':
        out += "%%";
        break;
      case '$':
        out += command_line ? "$$" : "$";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\x%02x", u);
          out += hex;
        } else {
          out += c;
        }
    }
  }
  if (needs_quotes) out += '"';
  return out;
}

/// The running executable's absolute path, as systemd must start it.
inline std::string current_executable() {
  char buffer[PATH_MAX];
  ssize_t const n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) {
    throw startup_error(
        "cluster: cannot read /proc/self/exe to name the executable in the unit; pass "
        "unit_options::executable");
  }
  std::string path(buffer, static_cast<std::size_t>(n));
  // A binary replaced on disk while it runs reads as "/path (deleted)": the unit must name the
  // path, where the new binary now is.
  constexpr std::string_view deleted = " (deleted)";
  if (path.ends_with(deleted)) path.resize(path.size() - deleted.size());
  return path;
}

/// The executable the unit starts: `o.executable`, else this program. Must be absolute.
inline std::string executable_of(unit_options const& o) {
  std::string exe = o.executable.empty() ? current_executable() : o.executable;
  if (!exe.starts_with('/')) {
    throw startup_error("cluster: the unit's executable '" + exe +
                        "' is not an absolute path; systemd needs one, so give the full path");
  }
  return exe;
}

/// The unit base name: `o.name`, else the executable's file name. Characters that systemd does
/// not allow in unit names become `-`.
inline std::string name_of(unit_options const& o) {
  std::string name = o.name;
  if (name.empty()) {
    std::string const exe = executable_of(o);
    name = exe.substr(exe.rfind('/') + 1);
  }
  for (char& c : name) {
    bool const allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == ':' || c == '-' || c == '_' || c == '.';
    if (!allowed) c = '-';
  }
  return name;
}

inline std::string description_of(unit_options const& o, std::string const& name) {
  return literal(o.description.empty() ? name + " (cluster)" : o.description);
}

/// `ms` as a systemd time span, in whole seconds, rounded up.
inline std::string seconds_text(std::chrono::milliseconds ms) {
  auto const count = ms.count() < 0 ? 0 : ms.count();
  return std::to_string((count + 999) / 1000) + "s";
}

/// A duration for humans in unit comments: `60 s`, `1500 ms`.
inline std::string human(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + " s";
  return std::to_string(ms.count()) + " ms";
}

/// One `ListenStream=` value, and a comment line when a host name had to be resolved.
struct listen_stream {
  std::string value;
  std::string note;
};

/// The `ListenStream=` of `ep`, the address the master itself would bind.
///
/// A wildcard host is the port alone (every address, both families); IPv6 addresses are in
/// brackets; a relative unix socket path is resolved against the working directory, as the
/// master binds it after changing there. systemd does not resolve host names, so a name is
/// resolved now, as the master would (the first address getaddrinfo() returns).
inline listen_stream listen_stream_of(endpoint const& ep, core_settings const& s) {
  if (ep.type == endpoint::kind::unix_socket) {
    std::string path(ep.address);
    if (!path.starts_with('/')) {
      if (!s.working_directory.starts_with('/')) {
        throw startup_error("cluster: the socket unit needs an absolute path for listen(\"" + path +
                            "\"); give an absolute path or an absolute working directory");
      }
      std::string dir(s.working_directory);
      if (!dir.ends_with('/')) dir += '/';
      path = dir + path;
    }
    return {literal(path), {}};
  }
  std::string const port = std::to_string(ep.port);
  if (ep.port == 0) {
    throw startup_error(
        "cluster: a socket unit cannot listen on port 0 (any free port); give listen() a fixed "
        "port");
  }
  if (ep.address.empty()) return {port, {}};
  std::string const host(ep.address);
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return {host + ":" + port, {}};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return {"[" + host + "]:" + port, {}};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int const rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw startup_error("cluster: cannot write the socket unit: unknown host '" + host + "' (" +
                        ::gai_strerror(rc) + "); use a name or address of this machine");
  }
  char text[INET6_ADDRSTRLEN] = {};
  std::string value;
  if (found->ai_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in const*>(found->ai_addr)->sin_addr, text,
                sizeof text);
    value = std::string(text) + ":" + port;
  } else {
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6 const*>(found->ai_addr)->sin6_addr, text,
                sizeof text);
    value = "[" + std::string(text) + "]:" + port;
  }
  ::freeaddrinfo(found);
  return {value, "# " + literal(host) + ":" + port + " resolved to " + value +
                     " when this unit was written:\n# systemd does not resolve host names.\n"};
}

}  // namespace detail

namespace detail {

/// The signal `bindings` map to `what`: `preferred` when they list it for that, else the first
/// that they map to `what`, else 0.
constexpr int signal_for(std::span<signal_binding const> bindings, master_action what,
                         int preferred) noexcept {
  int first = 0;
  for (auto const& b : bindings) {
    if (b.action != what) continue;
    if (b.signal == preferred) return b.signal;
    if (first == 0) first = b.signal;
  }
  return first;
}

}  // namespace detail

/// The signal that `bindings` map to a graceful shutdown, for `KillSignal=`: SIGTERM when they
/// do (`container_signals`), else the first that does (SIGQUIT for `default_signals`), else the
/// one that stops hard, else SIGTERM.
constexpr int graceful_signal(std::span<signal_binding const> bindings) noexcept {
  if (int const s = detail::signal_for(bindings, master_action::graceful_shutdown, SIGTERM))
    return s;
  if (int const s = detail::signal_for(bindings, master_action::hard_shutdown, SIGTERM)) return s;
  return SIGTERM;
}

/// The signal that `bindings` map to a master restart, for `ExecReload=` (SIGUSR2 for the
/// defaults); 0 when none does.
constexpr int restart_signal(std::span<signal_binding const> bindings) noexcept {
  return detail::signal_for(bindings, master_action::restart, SIGUSR2);
}

/// The same for a signal policy type, e.g. `graceful_signal<cluster::container_signals>()`.
template <class SignalPolicy>
constexpr int graceful_signal() noexcept {
  return graceful_signal(signal_bindings<SignalPolicy>);
}
template <class SignalPolicy>
constexpr int restart_signal() noexcept {
  return restart_signal(signal_bindings<SignalPolicy>);
}

/// The `[Unit]`, `[Service]` and `[Install]` text of `<name>.service` for a program with settings
/// `s`, stopped gracefully by `graceful_signal` and restarted by `reload_signal` (0: none).
///
/// Each line carries a comment that says why it is there. `TimeoutStopSec=` is `timeout` plus a
/// margin, never shorter than `timeout`.
///
/// Errors: `startup_error` when the executable is not an absolute path or cannot be found.
/// Example: `std::fputs(service_unit(s, {.name = "hello"}, SIGQUIT, SIGUSR2).c_str(), stdout)`
inline std::string service_unit(core_settings const& s, unit_options const& o, int graceful_signal,
                                int reload_signal) {
  using std::chrono::milliseconds;
  std::string const exe = detail::executable_of(o);
  std::string const name = detail::name_of(o);
  std::string u;
  u +=
      "# " + name + ".service, written by the program itself from its configuration (run it with\n";
  u += "# CLUSTER_PRINT_UNIT=service): print it again when the configuration changes.\n";
  u += "[Unit]\n";
  u += "Description=" + detail::description_of(o, name) + "\n";
  if (o.socket_activation) {
    u += "# The listening sockets come from " + name + ".socket: the master adopts them\n";
    u += "# (LISTEN_FDS) instead of binding, and they stay open while the service restarts.\n";
    u += "Requires=" + name + ".socket\n";
    u += "After=" + name + ".socket\n";
  } else {
    u += "After=network.target\n";
  }
  u += "\n[Service]\n";
  u += "# The master sends READY=1 once every worker accepts connections, RELOADING=1 and\n";
  u += "# READY=1 around a master restart, and STOPPING=1 when it shuts down.\n";
  u += "Type=notify\n";
  u += "# Only the main process may notify (not the workers). Across a master restart, the old\n";
  u += "# master sends MAINPID= of the new one, with READY=1, once the new master's workers all\n";
  u += "# accept; from then on the new master is the main process.\n";
  u += "NotifyAccess=main\n";
  u += "ExecStart=" + detail::quote(exe, true);
  // Two appends rather than " " + quote(...): g++ 12 at -O3 reports a false -Wrestrict on a
  // literal plus a std::string.
  for (auto const& argument : o.arguments) {
    u += ' ';
    u += detail::quote(argument, true);
  }
  u += "\n";
  if (!o.environment.empty()) {
    u += "# The configuration's environment branch.\n";
    u += "Environment=" + detail::quote("CLUSTER_ENV=" + o.environment, false) + "\n";
  }
  if (s.working_directory.starts_with('/')) {
    u += "WorkingDirectory=" + detail::literal(s.working_directory) + "\n";
  } else if (!s.working_directory.empty()) {
    u += "# The working directory \"" + detail::literal(s.working_directory) +
         "\" is relative: the master resolves it from /.\n";
  }
  if (s.user.given() || s.group.given()) {
    u += "# No User=/Group=: the master binds and supervises as the unit's user (root); the\n";
    u += "# workers drop to the configured user and group themselves.\n";
  }
  if (reload_signal != 0) {
    std::string const signal = detail::signal_name(reload_signal);
    u += "# systemctl reload = master restart (" + signal + "): a new master started from the\n";
    u += "# executable on disk takes over the sockets, then the old one stops gracefully; a new\n";
    u += "# binary is deployed without refusing a connection. (SIGHUP restarts only the workers,\n";
    u += "# one at a time: systemctl kill -s SIGHUP --kill-whom=main " + name + ".) With\n";
    u += "# systemd >= 253, Type=notify-reload and ReloadSignal=" + signal +
         " replace this line and\n";
    u += "# make systemctl reload wait until the new master is ready.\n";
    u += "ExecReload=/bin/kill -" + (signal.starts_with("SIG") ? signal.substr(3) : signal) +
         " $MAINPID\n";
  } else {
    u += "# No ExecReload=: no signal of this program's policy restarts the master.\n";
  }
  u += "# A graceful stop: workers stop accepting, finish what they serve, and exit.\n";
  u += "KillSignal=" + detail::signal_name(graceful_signal) + "\n";
  u += "# KillSignal= goes to the master only, which stops its workers itself (sent to every\n";
  u += "# process, it would cut the workers short); whatever is left when the master has exited,\n";
  u += "# or when TimeoutStopSec= runs out, gets SIGKILL.\n";
  u += "KillMode=mixed\n";
  u += "# Never shorter than the \"timeout\" setting (" + detail::human(s.timeout) +
       "): a stopping worker may take that long\n";
  u += "# before the master kills it; the margin lets the master finish after it.\n";
  u += "TimeoutStopSec=" + detail::seconds_text(s.timeout + milliseconds(10000)) + "\n";
  u += "# Start it again when the master fails (exit status not 0, a signal, the watchdog).\n";
  u += "Restart=on-failure\n";
  u += "# ...but not when a worker said its error is one restarting cannot fix "
       "(cluster::fatal_error):\n";
  u += "# the master then exits with the same status.\n";
  u += "RestartPreventExitStatus=" + std::to_string(fatal_exit_code) + "\n";
  u += "# The watchdog, off by default. The master sends WATCHDOG=1 every WatchdogSec/2 only\n";
  u += "# while all its workers are alive and accepting; a worker stuck in a loop is the\n";
  u += "# master's to trace and replace (\"liveness timeout\"), or, with that check off, stops\n";
  u += "# the keep-alives, and systemd restarts the service.\n";
  u += "#WatchdogSec=30s\n";
  u += "\n[Install]\n";
  u += "WantedBy=multi-user.target\n";
  return u;
}

/// The text of `<name>.socket`: one `ListenStream=` per listener (`host:port`, `[v6]:port`, the
/// port alone for every address, or a path), with `FileDescriptorName=` and `Backlog=` from the
/// settings.
///
/// Errors: `startup_error` for port 0 (a unit needs a fixed port), a relative unix socket path
/// without an absolute working directory, and an unknown host name.
inline std::string socket_unit(std::span<endpoint const> listeners, core_settings const& s,
                               unit_options const& o) {
  std::string const name = detail::name_of(o);
  std::string u;
  u += "# " + name + ".socket, written by the program itself from its configuration (run it with\n";
  u += "# CLUSTER_PRINT_UNIT=socket): print it again when the configuration changes.\n";
  u += "[Unit]\n";
  u += "Description=" + detail::description_of(o, name) + ", listening sockets\n";
  u += "\n[Socket]\n";
  u += "# One line per listen() of the configuration. systemd binds them before it starts\n";
  u += "# " + name + ".service and keeps them open while it restarts: connections wait in the\n";
  u += "# backlog instead of being refused.\n";
  bool wildcard = false;
  for (endpoint const& ep : listeners) {
    auto const stream = detail::listen_stream_of(ep, s);
    u += stream.note;
    u += "ListenStream=" + stream.value + "\n";
    wildcard = wildcard || (ep.type == endpoint::kind::tcp && ep.address.empty());
  }
  if (wildcard) {
    u += "# A port alone means every address of both families, as the master binds it.\n";
    u += "BindIPv6Only=both\n";
  }
  u += "# The sockets' name in LISTEN_FDNAMES; the master adopts every socket it is passed, in\n";
  u += "# order, whatever its name.\n";
  u += "FileDescriptorName=" + name + "\n";
  u += "# The \"backlog\" setting.\n";
  u += "Backlog=" + std::to_string(s.backlog) + "\n";
  u += "# Accept=no (the default): the master gets the listening sockets and its workers accept.\n";
  u += "\n[Install]\n";
  u += "WantedBy=sockets.target\n";
  return u;
}

/// Feeds systemd's watchdog: WATCHDOG=1 at half the interval it asked for, each time `healthy()`
/// holds, so that a service that is up but no longer serves is restarted.
class watchdog_feeder {
 public:
  explicit watchdog_feeder(boost::asio::io_context& io) : timer_(io) {}

  void start(os::notifier const& to, std::function<bool()> healthy) {
    if (!to.watchdog()) return;
    notifier_ = &to;
    healthy_ = std::move(healthy);
    every_ = std::chrono::duration_cast<std::chrono::steady_clock::duration>(*to.watchdog()) / 2;
    arm();
  }

 private:
  void arm() {
    timer_.expires_after(every_);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      if (healthy_()) notifier_->send("WATCHDOG=1");
      arm();
    });
  }

  boost::asio::steady_timer timer_;
  os::notifier const* notifier_ = nullptr;
  std::function<bool()> healthy_;
  std::chrono::steady_clock::duration every_{};
};

/// Prints the unit `which` (`service` or `socket`) for a configuration with `settings`,
/// `listeners` and signal `bindings` (what `CLUSTER_PRINT_UNIT` asks for); the exit status.
inline int print_unit(std::string_view which, core_settings const& settings,
                      std::span<endpoint const> listeners,
                      std::span<signal_binding const> bindings) {
  try {
    unit_options o;
    if (char const* name = std::getenv("CLUSTER_UNIT_NAME")) o.name = name;
    auto const args = os::command_line();
    if (args.size() > 1) o.arguments.assign(args.begin() + 1, args.end());
    if (char const* env = std::getenv("CLUSTER_ENV")) o.environment = env;
    if (which == "service") {
      std::fputs(
          service_unit(settings, o, graceful_signal(bindings), restart_signal(bindings)).c_str(),
          stdout);
    } else if (which == "socket") {
      std::fputs(socket_unit(listeners, settings, o).c_str(), stdout);
    } else {
      throw startup_error("cluster: CLUSTER_PRINT_UNIT=" + std::string(which) +
                          " names no unit; use CLUSTER_PRINT_UNIT=service or =socket");
    }
    std::fflush(stdout);
    return 0;
  } catch (std::exception const& e) {
    std::string_view const what = e.what();
    std::fprintf(stderr, "%s%.*s\n",
                 what.starts_with("cluster: ") ? "" : "cluster: ", static_cast<int>(what.size()),
                 what.data());
    return 1;
  }
}

}  // namespace cluster::systemd
