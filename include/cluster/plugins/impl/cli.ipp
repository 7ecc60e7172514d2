// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/plugins/cli.hpp>: inline in each program (header-only), or compiled once
// into cluster::compiled (see <cluster/src.hpp>). The master's side (the control socket and its
// sessions) and the client's (the program run with a command).
#pragma once

#include <cluster/control/protocol.hpp>
#include <cluster/os/address.hpp>
#include <cluster/os/fd.hpp>
#include <cluster/os/process.hpp>
#include <cluster/os/startup_error.hpp>
#include <cluster/plugins/cli.hpp>
#include <cluster/text.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cluster {

namespace detail::control {

using namespace ::cluster::control;
using steady = std::chrono::steady_clock;

/// How long a client has to send its request, and to read a reply once it is sent.
inline constexpr std::chrono::seconds io_limit{5};
/// Connections served at once; more are told the master is busy.
inline constexpr std::size_t max_sessions = 64;

/// How a plugin's unix socket is named in its errors.
struct socket_names {
  std::string_view plugin;  ///< "cli"
  std::string_view what;    ///< "control socket"
  std::string_view change;  ///< how to name another: `set<"socket path"> to`
};

inline constexpr socket_names control_socket{"cli", "control socket", "set<\"socket path\"> to"};
inline constexpr socket_names console_socket{"repl", "console socket", "give repl{...}"};

/// `path` as a unix socket address; throws `startup_error` when it does not fit.
inline sockaddr_un address_of(std::string const& path, socket_names const& names = control_socket) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw startup_error(
        text::format("cluster: {}: the {} path {} must be 1 to {} characters "
                     "long; {} a shorter one",
                     names.plugin, names.what, path, sizeof addr.sun_path - 1, names.change));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

/// Connects to the unix socket at `addr`: the descriptor, or an empty one with `errno` set.
inline os::unique_fd connect_to(sockaddr_un const& addr) {
  os::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  if (::connect(fd.get(), reinterpret_cast<sockaddr const*>(&addr), sizeof addr) != 0) {
    int const e = errno;
    fd.reset();
    errno = e;
  }
  return fd;
}

/// Who may use the control socket besides root and the master's own user.
struct access_policy {
  std::optional<gid_t> full;       ///< members may run every command
  std::optional<gid_t> read_only;  ///< members may run `status` and `pids`
};

/// What a peer may do.
enum class access : unsigned char { none, read_only, full };

/// The id of the group `name` (a name, or a number); throws `startup_error` for an unknown one.
inline gid_t group_id(std::string const& name, char const* what) {
  gid_t id = 0;
  auto const [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
  if (ec == std::errc{} && end == name.data() + name.size()) return id;
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    throw startup_error(std::string("cluster: cli: the ") + what + " '" + name +
                        "' is not a group on this system; create it or name another");
  }
  return gr.gr_gid;
}

/// What the peer of `fd`, whose credentials are `peer`, may do under `policy`: root and the
/// master's user everything; a member of a group (primary or supplementary, from
/// SO_PEERGROUPS) what its group allows.
inline access access_of(int fd, ucred const& peer, access_policy const& policy) {
  if (peer.uid == 0 || peer.uid == ::geteuid()) return access::full;
  if (!policy.full && !policy.read_only) return access::none;
  std::vector<gid_t> groups(256);
  socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) len = 0;
  groups.resize(len / sizeof(gid_t));
  groups.push_back(peer.gid);
  auto const member = [&](std::optional<gid_t> g) {
    return g && std::find(groups.begin(), groups.end(), *g) != groups.end();
  };
  if (member(policy.full)) return access::full;
  if (member(policy.read_only)) return access::read_only;
  return access::none;
}

/// Creates the control socket at `path`, mode 0600 from the start (the umask is set around
/// bind(), so that there is no moment where another user could connect). An existing socket
/// where nothing answers is stale and replaced; one where something answers is refused, unless
/// `take_over` (a restarted master replacing its predecessor's).
inline os::unique_fd bind_socket(std::string const& path, bool take_over,
                                 access_policy const& policy = {},
                                 socket_names const& names = control_socket) {
  sockaddr_un const addr = address_of(path, names);
  std::string const plugin(names.plugin);
  std::string const what(names.what);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw startup_error("cluster: " + plugin + ": cannot create the " + what + " " + path +
                          ": the path exists and is not a socket; remove it or " +
                          std::string(names.change) + " another one");
    }
    if (!take_over) {
      if (connect_to(addr)) {
        throw startup_error("cluster: " + plugin + ": another master answers on the " + what + " " +
                            path + "; stop it first, or give this one another socket path");
      }
      if (errno != ECONNREFUSED && errno != ENOENT) {
        throw startup_error("cluster: " + plugin + ": cannot probe the " + what + " " + path +
                            ": " + std::strerror(errno));
      }
      std::fprintf(stderr, "cluster: %s: replacing the stale %s %s\n", plugin.c_str(), what.c_str(),
                   path.c_str());
    }
  }
  os::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) os::throw_errno("socket");
  // Bound under a temporary name and renamed over the path: a client never finds the path
  // missing during a take-over, and never finds a socket with a wider mode.
  std::string temporary = path + ".new." + std::to_string(::getpid());
  if (temporary.size() >= sizeof addr.sun_path) {
    // No room for a temporary name: bound in place, after the stale file is removed.
    temporary = path;
  }
  sockaddr_un const temporary_addr = address_of(temporary, names);
  ::unlink(temporary.c_str());
  // 0600; 0660 for one group, owned by it; 0666 for two (the peer check tells them apart).
  bool const both = policy.full && policy.read_only;
  std::optional<gid_t> const owner = policy.full ? policy.full : policy.read_only;
  mode_t const old_mask = ::umask(both ? 0111 : owner ? 0117 : 0177);
  int const bound =
      ::bind(fd.get(), reinterpret_cast<sockaddr const*>(&temporary_addr), sizeof temporary_addr);
  int const bind_error = errno;
  ::umask(old_mask);
  if (bound != 0) {
    throw startup_error("cluster: " + plugin + ": cannot create the " + what + " " + path + ": " +
                        std::strerror(bind_error) +
                        "; check that its directory exists and is writable");
  }
  if (::listen(fd.get(), 64) != 0 || (owner && ::chown(temporary.c_str(), -1, *owner) != 0) ||
      (temporary != path && ::rename(temporary.c_str(), path.c_str()) != 0)) {
    int const e = errno;
    ::unlink(temporary.c_str());
    throw startup_error("cluster: " + plugin + ": cannot create the " + what + " " + path + ": " +
                        std::strerror(e));
  }
  return fd;
}

/// The signal `name` names: `TERM`, `SIGTERM` (in any case) or a number from 1 to 64; 0 when it
/// names none.
inline int signal_number(std::string_view name) {
  int number = 0;
  auto const [end, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (ec == std::errc{} && end == name.data() + name.size())
    return number >= 1 && number <= 64 ? number : 0;
  auto const same = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char const c = a[i] >= 'a' && a[i] <= 'z' ? static_cast<char>(a[i] - 'a' + 'A') : a[i];
      if (c != b[i]) return false;
    }
    return true;
  };
  if (name.size() > 3 && same(name.substr(0, 3), "SIG")) name.remove_prefix(3);
  for (int s = 1; s < 32; ++s) {
    char const* abbrev = ::sigabbrev_np(s);
    if (abbrev != nullptr && same(name, abbrev)) return s;
  }
  return 0;
}

/// The JSON name of a worker's state.
inline std::string_view state_word(worker_state s) noexcept {
  switch (s) {
    case worker_state::starting:
      return "starting";
    case worker_state::ready:
      return "ready";
    case worker_state::stopping:
      return "stopping";
  }
  return "starting";
}

/// The JSON name of the master's state.
inline std::string_view state_word(master_state s) noexcept {
  switch (s) {
    case master_state::active:
      return "active";
    case master_state::graceful_shutdown:
      return "graceful_shutdown";
    case master_state::hard_shutdown:
      return "hard_shutdown";
  }
  return "active";
}

/// Seconds, with millisecond precision, as JSON.
inline std::string seconds_json(steady::duration d) {
  auto const ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return text::format("{}.{:03}", ms / 1000, ms % 1000);
}

/// The status document: the master, every live worker, and the ids waiting out a crash loop's
/// delay (no process for now).
inline std::string status_json(master_api const& master, steady::time_point started) {
  auto const now = steady::now();
  std::string out = "{\"master\":{\"pid\":" + std::to_string(::getpid());
  out += ",\"state\":" + json_string(state_word(master.state()));
  out += ",\"environment\":" + json_string(master.environment());
  out += ",\"uptime_seconds\":" + seconds_json(now - started);
  out += ",\"restarted\":" + std::string(master.restarted() ? "true" : "false");
  out += ",\"workers_configured\":" + std::to_string(master.settings().workers);
  out += ",\"listening\":[";
  bool first = true;
  for (auto const& a : master.addresses()) {
    out += (first ? "" : ",") + json_string(a);
    first = false;
  }
  out += "]},\"workers\":[";
  first = true;
  for (auto const& w : master.workers()) {
    out += first ? "{" : ",{";
    first = false;
    out += "\"id\":" + std::to_string(w.id) + ",\"pid\":" + std::to_string(w.pid);
    out += ",\"state\":" + json_string(state_word(w.state));
    out += ",\"generation\":" + std::to_string(w.generation);
    out += ",\"uptime_seconds\":" + seconds_json(now - w.spawned_at);
    // How the previous process with this id ended: the one taxonomy of events, logs, metrics.
    out += ",\"last_exit\":" +
           (w.last_exit ? json_string(events::to_string(w.last_exit->reason)) : "null") + "}";
  }
  out += "],\"waiting\":[";
  first = true;
  for (auto const& w : master.waiting()) {
    out += first ? "{" : ",{";
    first = false;
    out += "\"waiting_id\":" + std::to_string(w.id);
    out += ",\"deaths_in_a_row\":" + std::to_string(w.deaths);
    out += ",\"restart_in_seconds\":" + seconds_json(std::max(w.until - now, steady::duration{}));
    out += ",\"last_exit\":" +
           (w.last_exit ? json_string(events::to_string(w.last_exit->reason)) : "null") + "}";
  }
  out += "]}";
  return out;
}

/// A command of the control tool.
struct command_info {
  std::string_view name;
  std::string_view arguments;  ///< as --help shows them
  std::string_view description;
  std::size_t count;          ///< how many arguments it takes at most
  bool waits;                 ///< it waits for an outcome, unless --no-wait
  std::size_t least = count;  ///< how many it takes at least
};

inline constexpr command_info commands[] = {
    {"status", "",
     "the master and every worker (id, pid, state, generation, uptime, how the previous one "
     "ended, or how long its restart waits)",
     0, false},
    {"shutdown", "", "graceful shutdown; returns once the master has exited", 0, true},
    {"stop", "", "hard shutdown (workers killed); returns once the master has exited", 0, true},
    {"restart", "", "a new master takes over without downtime; returns once it serves", 0, true},
    {"restart-workers", "", "replace every worker, one at a time; returns once all are", 0, true},
    {"spawn", "N", "add N workers (a negative N stops that many)", 1, false},
    {"kill", "ID [SIGNAL]", "send SIGNAL (TERM, KILL, USR1, ...; TERM if none) to worker ID", 2,
     false, 1},
    {"pids", "", "the live workers' pids, by worker id", 0, false},
    {"console", "", "an interactive console on the master: these commands, one per line", 0, false},
};

/// The built-in command `name`, or the program's own, or nothing.
inline std::optional<command_info> find_command(std::string_view name,
                                                std::span<user_command const> own) {
  for (auto const& c : commands)
    if (c.name == name) return c;
  for (auto const& c : own)
    if (c.name == name) return command_info{c.name, c.arguments, c.description, c.count, false};
  return std::nullopt;
}

/// The status document `json` for a person: one line for the master, one per worker, one per id
/// waiting out a crash loop's delay.
inline std::string status_text(std::string const& json) {
  std::string out;
  // The document is ours and flat: the fields are read by name, in order.
  auto field = [&](std::string_view name, std::size_t from, std::size_t* next = nullptr) {
    std::string const key = "\"" + std::string(name) + "\":";
    auto at = json.find(key, from);
    if (at == std::string::npos) return std::string{};
    at += key.size();
    if (at >= json.size()) return std::string{};
    std::size_t end = at;
    if (json[at] == '"') {
      end = json.find('"', at + 1);
      if (next) *next = end + 1;
      return json.substr(at + 1, end - at - 1);
    }
    end = json.find_first_of(",}]", at);
    if (next) *next = end;
    return json.substr(at, end - at);
  };
  out += text::format("master     pid {:<8} {}, environment {}, up {}s, {} workers configured\n",
                      field("pid", 0), field("state", 0), field("environment", 0),
                      field("uptime_seconds", 0), field("workers_configured", 0));
  std::size_t pos = json.find("\"workers\":[");
  if (pos == std::string::npos) return out;
  // A master of an earlier version has no "waiting".
  std::size_t const waiting = json.find("\"waiting\":[", pos);
  std::size_t const workers_end = waiting == std::string::npos ? json.size() : waiting;
  while ((pos = json.find("{\"id\":", pos)) != std::string::npos && pos < workers_end) {
    std::size_t next = pos;
    std::string const id = field("id", pos, &next);
    std::string const pid = field("pid", next, &next);
    std::string const state = field("state", next, &next);
    std::string const generation = field("generation", next, &next);
    std::string const uptime = field("uptime_seconds", next, &next);
    std::string const last = field("last_exit", next, &next);
    out += text::format("worker.{:<3} pid {:<8} {}, generation {}, up {}s", id, pid, state,
                        generation, uptime);
    if (!last.empty() && last != "null") out += ", the previous one: " + last;
    out += "\n";
    pos = next;
  }
  for (pos = workers_end; (pos = json.find("{\"waiting_id\":", pos)) != std::string::npos;) {
    std::size_t next = pos;
    std::string const id = field("waiting_id", pos, &next);
    std::string const deaths = field("deaths_in_a_row", next, &next);
    std::string const in = field("restart_in_seconds", next, &next);
    std::string const last = field("last_exit", next, &next);
    out += text::format("worker.{:<3} waiting      restart in {}s, after {} deaths in a row", id,
                        in, deaths);
    if (!last.empty() && last != "null") out += ", the previous one: " + last;
    out += "\n";
    pos = next;
  }
  return out;
}

/// The built-in commands a console session offers besides the control tool's.
inline constexpr command_info console_commands[] = {
    {"help", "", "these commands", 0, false},
    {"quit", "", "leave the console (end-of-file does too)", 0, false},
};

/// What a connection to the server speaks.
enum class listener_kind : unsigned char {
  control,  ///< the control tool's protocol; `console` turns a connection into a console
  console,  ///< the console from the first byte (the repl plugin's socket)
};

/// How long a console may stay idle before the master closes it.
inline constexpr std::chrono::minutes console_idle{15};
/// Output a client may leave unread before the master closes its connection.
inline constexpr std::size_t max_unread = std::size_t{1} << 20U;

/// The master's side of the control socket and of the console: accepts, checks who is asking,
/// reads requests, runs them and writes the replies. A control connection carries one request
/// (`cluster-control 2 status`); a console carries lines (`spawn(2)`) answered in plain text,
/// each followed by a prompt. Owned by its pending operations (the Asio way), so that it lives
/// exactly as long as the master's event loop needs it; its plugin keeps a weak pointer.
class server : public std::enable_shared_from_this<server> {
  using descriptor = boost::asio::posix::stream_descriptor;

  /// One client connection.
  struct session {
    session(boost::asio::io_context& io, int fd, std::string from, access may)
        : sock(io, fd), timer(io), who(std::move(from)), allowed(may) {}
    descriptor sock;
    boost::asio::steady_timer timer;
    std::string who;  ///< for the log: "uid 1000, pid 4242" or "tcp 127.0.0.1:50312"
    access allowed;
    request_reader in;  ///< a control connection's request
    line_reader lines;  ///< a console's lines
    std::string out;
    std::size_t writing = 0;  ///< bytes of `out` being written
    bool last = false;        ///< close once `out` is written
    bool closed = false;
    bool console = false;       ///< lines and prompts, not one request
    bool busy = false;          ///< a console command runs: its outcome comes before the next
    bool pumping = false;       ///< `pump` runs the console's lines
    bool input_closed = false;  ///< the console client sent end-of-file
  };
  using session_ptr = std::shared_ptr<session>;

 public:
  server(master_api& master, os::unique_fd listener, std::string path, steady::time_point started,
         std::vector<user_command> commands, access_policy policy,
         listener_kind kind = listener_kind::control)
      : master_(&master),
        listener_(master.io(), listener.release()),
        retry_(master.io()),
        path_(std::move(path)),
        started_(started),
        commands_(std::move(commands)),
        policy_(policy),
        kind_(kind) {
    master_->keep_from_workers(listener_.native_handle());
    struct stat st {};
    if (!path_.empty() && ::stat(path_.c_str(), &st) == 0) inode_ = {st.st_dev, st.st_ino};
  }

  void start() { accept(); }

  /// Closes the socket and every connection, and removes the socket file if it is still ours
  /// (after a restart it is the new master's).
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    struct stat st {};
    if (!path_.empty() && ::stat(path_.c_str(), &st) == 0 &&
        std::pair{st.st_dev, st.st_ino} == inode_)
      ::unlink(path_.c_str());
    master_->release_to_workers(listener_.native_handle());
    boost::system::error_code ignored;
    retry_.cancel();
    listener_.close(ignored);
    for (auto const& s : std::set<session_ptr>(sessions_)) end(s);
  }

  /// The outcome of a rolling restart, for the `restart-workers` commands waiting for it.
  void roll_finished(bool ok, std::string const& text) {
    answer(roll_waiters_, ok ? reply_kind::ok : reply_kind::error, text);
  }

  /// The outcome of a master restart, for the `restart` commands waiting for it.
  void restart_finished(bool ok, std::string const& text) {
    answer(restart_waiters_, ok ? reply_kind::ok : reply_kind::error, text);
  }

  /// A master restart began (or was delayed): the `restart` command being run goes on waiting.
  void restart_begun(std::string const& progress) {
    restart_begun_ = true;
    for (auto const& s : restart_waiters_) say(s, progress);
  }

  /// True while a `restart` command waits for its outcome.
  [[nodiscard]] bool restart_waited() const noexcept { return !restart_waiters_.empty(); }

  /// Serves `fd` (one end of a socket pair) as a control connection with full access, `who` in
  /// the log: how the HTTP endpoint runs a command whose token it checked. False when busy.
  bool adopt(os::unique_fd fd, std::string who) {
    if (stopped_ || sessions_.size() >= max_sessions) return false;
    int const raw = fd.release();
    master_->keep_from_workers(raw);
    auto s = std::make_shared<session>(master_->io(), raw, std::move(who), access::full);
    sessions_.insert(s);
    arm(s, io_limit);
    read(s);
    return true;
  }

 private:
  void accept() {
    listener_.async_wait(descriptor::wait_read,
                         [self = shared_from_this()](boost::system::error_code ec) {
                           if (ec || self->stopped_) return;
                           if (self->accept_ready()) return self->accept();
                           // Out of descriptors: the pending client stays queued and the
                           // socket readable; try again shortly instead of spinning.
                           self->retry_.expires_after(std::chrono::milliseconds(100));
                           self->retry_.async_wait([self](boost::system::error_code e) {
                             if (!e && !self->stopped_) self->accept();
                           });
                         });
  }

  /// Who is at the other end of `fd` and what it may do; nothing (the connection refused and
  /// closed) when it may do nothing.
  std::optional<std::pair<std::string, access>> identify(int fd) {
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) == 0 &&
        addr.ss_family != AF_UNIX) {
      // A TCP console, bound where the configuration allowed: no peer credentials to check.
      addr_len = sizeof addr;
      if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0)
        return std::nullopt;
      return std::pair{
          "tcp " + os::address_text(reinterpret_cast<sockaddr const*>(&addr), addr_len),
          access::full};
    }
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) return std::nullopt;
    access const may = access_of(fd, peer, policy_);
    if (may == access::none) {
      std::fprintf(stderr,
                   "cluster: control: refused uid %u (pid %d): not root, uid %u nor an allowed "
                   "group\n",
                   static_cast<unsigned>(peer.uid), static_cast<int>(peer.pid),
                   static_cast<unsigned>(::geteuid()));
      std::fflush(stderr);
      std::string const why =
          "permission denied: uid " + std::to_string(peer.uid) + " may not control this master";
      std::string const line = kind_ == listener_kind::console
                                   ? "error: " + why + "\n"
                                   : format_reply(reply_kind::error, why);
      [[maybe_unused]] auto const n = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
      return std::nullopt;
    }
    return std::pair{"uid " + std::to_string(peer.uid) + ", pid " + std::to_string(peer.pid), may};
  }

  /// Accepts every pending client; false when out of descriptors.
  bool accept_ready() {
    for (;;) {
      int const fd =
          ::accept4(listener_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM;
      auto who = identify(fd);
      if (!who) {
        ::close(fd);
        continue;
      }
      if (sessions_.size() >= max_sessions) {
        std::string const why = "busy: too many control clients";
        std::string const line = kind_ == listener_kind::console
                                     ? "error: " + why + "\n"
                                     : format_reply(reply_kind::error, why);
        [[maybe_unused]] auto const n = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
        ::close(fd);
        continue;
      }
      master_->keep_from_workers(fd);
      auto s = std::make_shared<session>(master_->io(), fd, std::move(who->first), who->second);
      sessions_.insert(s);
      if (kind_ == listener_kind::console) {
        open_console(s);
      } else {
        arm(s, io_limit);
        read(s);
      }
    }
  }

  /// Ends the session if it stays `limit` without sending what it must, or reading its reply.
  void arm(session_ptr const& s, steady::duration limit) {
    s->timer.expires_after(limit);
    s->timer.async_wait([self = shared_from_this(), s](boost::system::error_code ec) {
      if (!ec) self->end(s);
    });
  }

  void read(session_ptr const& s) {
    s->sock.async_wait(descriptor::wait_read,
                       [self = shared_from_this(), s](boost::system::error_code ec) {
                         if (ec || s->closed) return;
                         self->receive(s);
                       });
  }

  void receive(session_ptr const& s) {
    char buf[512];
    for (;;) {
      ssize_t const n = ::recv(s->sock.native_handle(), buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      if (n <= 0) {
        if (!s->console || n < 0) return end(s);
        // End-of-file from a console: what it sent before is still answered (a script piped
        // into `./server console`), then the session ends.
        s->input_closed = true;
        return pump(s);
      }
      if (s->console) {
        // One read at a time: the lines are run before more is read, so that a client that
        // sends without pause never makes the master buffer more than a line.
        s->lines.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        return pump(s);
      }
      switch (s->in.feed(std::string_view(buf, static_cast<std::size_t>(n)))) {
        case request_reader::status::incomplete:
          break;
        case request_reader::status::complete:
          return control_request(s, s->in.line());
        case request_reader::status::too_long:
          return finish(s, reply_kind::error,
                        "the request is longer than " + std::to_string(max_request) + " bytes");
      }
    }
    if (s->console) return pump(s);
    read(s);
  }

  /// A control connection's request.
  void control_request(session_ptr const& s, std::string const& line) {
    auto parsed = parse_request(line);
    if (!parsed.value) return finish(s, reply_kind::error, parsed.error);
    request const& r = *parsed.value;
    if (r.command == "console") {
      if (!r.arguments.empty()) return finish(s, reply_kind::error, "console takes no argument");
      log(s, "console");
      return open_console(s);
    }
    run(s, r);
  }

  /// Turns the session into a console: a greeting, then a prompt.
  void open_console(session_ptr const& s) {
    s->console = true;
    send(s, text::format("cluster console: master {} ({}, environment {}); 'help' lists the "
                         "commands, 'quit' leaves\n",
                         ::getpid(), state_word(master_->state()), master_->environment()));
    send(s, std::string(prompt));
    arm(s, console_idle);
    read(s);
  }

  /// Runs the console's complete lines, one at a time: a command that waits for an outcome holds
  /// the next line back until it has its answer. Reads more when every line is answered.
  void pump(session_ptr const& s) {
    if (s->pumping) return;
    s->pumping = true;
    while (!s->closed && !s->busy && !s->last) {
      auto line = s->lines.next();
      if (!line) break;
      s->busy = true;
      console_line(s, *line);
    }
    s->pumping = false;
    if (s->closed || s->busy || s->last) return;
    if (s->lines.too_long()) {
      s->last = true;
      return send(
          s, "error: the line is longer than " + std::to_string(max_request) + " bytes; closing\n");
    }
    if (s->input_closed) {
      s->last = true;
      return send(s, "");
    }
    read(s);
  }

  void console_line(session_ptr const& s, std::string const& line) {
    auto parsed = parse_console_line(line);
    if (!parsed.value) return finish(s, reply_kind::error, parsed.error);
    request const& r = *parsed.value;
    if (r.command.empty()) return finish_console(s, "");
    if (r.command == "quit" || r.command == "exit") {
      s->busy = false;
      s->last = true;
      return send(s, "bye\n");
    }
    if (r.command == "help") return finish(s, reply_kind::ok, help());
    if (r.command == "console") return finish(s, reply_kind::error, "this is the console");
    run(s, r);
  }

  /// The console's `help`: every command with its arguments and description.
  [[nodiscard]] std::string help() const {
    std::string out;
    auto const line = [&](std::string_view name, std::string_view arguments,
                          std::string_view description) {
      // "ID [SIGNAL]" reads kill(ID[, SIGNAL]) in the call form.
      std::string head(name);
      if (!arguments.empty()) {
        head += '(';
        for (std::size_t i = 0; i < arguments.size(); ++i) {
          char const c = arguments[i];
          if (c == '[') {
            head += "[, ";
          } else if (c == ' ') {
            if (i + 1 < arguments.size() && arguments[i + 1] != '[') head += ", ";
          } else {
            head += c;
          }
        }
        head += ')';
      }
      out += text::format("  {:<22} {}\n", head, description);
    };
    for (auto const& c : commands)
      if (c.name != "console") line(c.name, c.arguments, c.description);
    for (auto const& c : console_commands) line(c.name, c.arguments, c.description);
    if (!commands_.empty()) out += "commands of this program:\n";
    for (auto const& c : commands_) line(c.name, c.arguments, c.description);
    out += "arguments go in parentheses or after blanks: spawn(2), spawn 2, kill(0, KILL)";
    return out;
  }

  void log(session_ptr const& s, std::string const& words) {
    std::fprintf(stderr, "cluster: control: %s%s (%s)\n", s->console ? "console: " : "",
                 words.c_str(), s->who.c_str());
    std::fflush(stderr);
  }

  /// Runs the request `r` of the session `s`, from either kind of connection.
  void run(session_ptr const& s, request const& r) {
    std::string words = r.command;
    for (auto const& a : r.arguments) words += ' ' + a;
    log(s, words);
    auto const wrong_arguments = [&](std::size_t n) {
      if (r.arguments.size() == n) return false;
      finish(s, reply_kind::error,
             r.command + " takes " + std::to_string(n) + (n == 1 ? " argument" : " arguments"));
      return true;
    };
    if (s->allowed != access::full && r.command != "status" && r.command != "pids") {
      std::fprintf(stderr, "cluster: control: refused %s (%s): read-only access\n",
                   r.command.c_str(), s->who.c_str());
      std::fflush(stderr);
      return finish(s, reply_kind::error,
                    "permission denied: " + s->who.substr(0, s->who.find(',')) +
                        " may only read the status of this master");
    }
    bool const active = master_->state() == master_state::active;
    if (r.command == "status") {
      if (wrong_arguments(0)) return;
      std::string json = status_json(*master_, started_);
      if (s->console) {
        json = status_text(json);
        json.pop_back();
      }
      return finish(s, reply_kind::ok, json);
    }
    if (r.command == "pids") {
      if (wrong_arguments(0)) return;
      std::string out;
      for (int const pid : master_->pids()) out += (out.empty() ? "" : " ") + std::to_string(pid);
      return finish(s, reply_kind::ok, out);
    }
    if (r.command == "shutdown" || r.command == "stop") {
      if (wrong_arguments(0)) return;
      // The reply ends when the master exits and its end of the socket closes.
      bool const graceful = r.command == "shutdown";
      say(s, graceful ? "shutting down gracefully" : "stopping now");
      hold(s);
      if (graceful) {
        master_->close();
      } else {
        master_->destroy();
      }
      return;
    }
    if (r.command == "restart-workers") {
      if (wrong_arguments(0)) return;
      if (!active) return finish(s, reply_kind::error, "the master is shutting down");
      if (master_->worker_count() == 0) return finish(s, reply_kind::ok, "no worker to replace");
      say(s, "replacing every worker, one at a time");
      hold(s);
      roll_waiters_.insert(s);
      master_->restart_workers();
      return;
    }
    if (r.command == "restart") {
      if (wrong_arguments(0)) return;
      if (!active) return finish(s, reply_kind::error, "the master is shutting down");
      hold(s);
      restart_waiters_.insert(s);
      restart_begun_ = false;
      master_->restart();
      if (!restart_begun_ && restart_waiters_.contains(s)) {
        restart_waiters_.erase(s);
        finish(s, reply_kind::error, "the restart was not started; the master's log says why");
      }
      return;
    }
    if (r.command == "kill") {
      if (r.arguments.empty() || r.arguments.size() > 2) {
        return finish(s, reply_kind::error,
                      "kill takes a worker id and, if not TERM, a signal: kill 0 [KILL]");
      }
      unsigned id = 0;
      auto const& a = r.arguments[0];
      auto const [end, ec] = std::from_chars(a.data(), a.data() + a.size(), id);
      if (ec != std::errc{} || end != a.data() + a.size()) {
        return finish(s, reply_kind::error,
                      "kill takes a worker id (status lists them), not '" + a + "'");
      }
      int const signal = r.arguments.size() == 2 ? signal_number(r.arguments[1]) : SIGTERM;
      if (signal == 0) {
        return finish(s, reply_kind::error,
                      "unknown signal '" + r.arguments[1] +
                          "'; name one (TERM, KILL, USR1, SIGQUIT) or give its number");
      }
      if (!active) return finish(s, reply_kind::error, "the master is shutting down");
      int const pid = master_->kill_worker(id, signal);
      if (pid == 0) {
        return finish(s, reply_kind::error,
                      "no worker " + std::to_string(id) + " (status lists the workers)");
      }
      return finish(
          s, reply_kind::ok,
          text::format("sent {} to worker {} (pid {})", os::signal_name(signal), id, pid));
    }
    if (r.command == "spawn") {
      if (wrong_arguments(1)) return;
      int n = 0;
      auto const& a = r.arguments[0];
      auto const [end, ec] = std::from_chars(a.data(), a.data() + a.size(), n);
      if (ec != std::errc{} || end != a.data() + a.size() || n == 0 || n > 1024 || n < -1024) {
        return finish(s, reply_kind::error,
                      "spawn takes a number of workers to add (1 to 1024) or remove (-1 to "
                      "-1024), not '" +
                          a + "'");
      }
      if (!active) return finish(s, reply_kind::error, "the master is shutting down");
      master_->spawn(n);
      return finish(s, reply_kind::ok,
                    n > 0 ? text::format("{} worker(s) added", n)
                          : text::format("{} worker(s) stopping gracefully", -n));
    }
    for (auto& c : commands_) {
      if (c.name != r.command) continue;
      if (wrong_arguments(c.count)) return;
      try {
        return finish(s, reply_kind::ok, c.run(*master_, r.arguments));
      } catch (std::exception const& e) {
        return finish(s, reply_kind::error, e.what());
      }
    }
    finish(s, reply_kind::error, "unknown command '" + r.command + "'");
  }

  /// The session waits for an outcome: no time limit any more.
  static void hold(session_ptr const& s) { s->timer.cancel(); }

  void answer(std::set<session_ptr>& waiters, reply_kind kind, std::string const& text) {
    auto const ws = std::exchange(waiters, {});
    for (auto const& s : ws) finish(s, kind, text);
  }

  /// A progress line: the command goes on.
  void say(session_ptr const& s, std::string const& text) {
    send(s, s->console ? text + "\n" : format_reply(reply_kind::progress, text));
  }

  /// Sends the final reply: a control connection ends once it is written; a console prints a
  /// prompt and runs its next line.
  void finish(session_ptr const& s, reply_kind kind, std::string const& text) {
    if (!s->console) {
      s->last = true;
      arm(s, io_limit);
      return send(s, format_reply(kind, text));
    }
    finish_console(s, kind == reply_kind::error ? "error: " + text : text);
  }

  void finish_console(session_ptr const& s, std::string const& text) {
    send(s, text.empty() ? std::string(prompt) : text + "\n" + std::string(prompt));
    arm(s, console_idle);
    s->busy = false;
    // An outcome that came later (a rolling restart's) lets the console's next line run.
    if (!s->pumping) {
      boost::asio::post(master_->io(), [self = shared_from_this(), s] { self->pump(s); });
    }
  }

  void send(session_ptr const& s, std::string const& line) {
    if (s->closed) return;
    s->out += line;
    if (s->out.size() > max_unread) return end(s);  // a client that does not read
    if (s->writing == 0) write(s);
  }

  void write(session_ptr const& s) {
    if (s->out.empty()) {
      if (s->last) end(s);
      return;
    }
    s->writing = s->out.size();
    boost::asio::async_write(
        s->sock, boost::asio::buffer(s->out),
        [self = shared_from_this(), s](boost::system::error_code ec, std::size_t /*n*/) {
          if (s->closed) return;
          if (ec) return self->end(s);
          s->out.erase(0, s->writing);
          s->writing = 0;
          self->write(s);
        });
  }

  void end(session_ptr const& s) {
    if (s->closed) return;
    s->closed = true;
    roll_waiters_.erase(s);
    restart_waiters_.erase(s);
    master_->release_to_workers(s->sock.native_handle());
    boost::system::error_code ignored;
    s->timer.cancel();
    s->sock.close(ignored);
    sessions_.erase(s);
  }

  master_api* master_;
  descriptor listener_;
  boost::asio::steady_timer retry_;  ///< the next accept, when out of descriptors
  std::string path_;                 ///< the unix socket's path; empty for TCP
  std::pair<dev_t, ino_t> inode_{};
  steady::time_point started_;
  std::vector<user_command> commands_;  ///< the program's own
  access_policy policy_;
  listener_kind kind_;
  std::set<session_ptr> sessions_;
  std::set<session_ptr> roll_waiters_;
  std::set<session_ptr> restart_waiters_;
  bool restart_begun_ = false;
  bool stopped_ = false;
};

//=== commands over HTTP ===//

/// True when `given` is `Bearer TOKEN` with the token `token`, compared in a time that depends on
/// the token's length only (not on how much of it a guess gets right).
inline bool token_matches(std::string_view given, std::string_view token) {
  constexpr std::string_view scheme = "bearer ";
  if (token.empty() || given.size() < scheme.size()) return false;
  bool scheme_ok = true;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = given[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    scheme_ok = scheme_ok && c == scheme[i];
  }
  std::string_view const secret = given.substr(scheme.size());
  unsigned diff = secret.size() == token.size() ? 0U : 1U;
  for (std::size_t i = 0; i < token.size(); ++i) {
    auto const a = static_cast<unsigned char>(i < secret.size() ? secret[i] : 0);
    diff |= static_cast<unsigned>(a ^ static_cast<unsigned char>(token[i]));
  }
  return scheme_ok && diff == 0;
}

/// The token in `path`: one word of 16 characters or more, in a regular file only its owner may
/// read. Throws `startup_error` with the reason.
inline std::string read_token(std::string const& path) {
  auto const fail = [&](std::string const& why) -> std::string {
    throw startup_error("cluster: cli: the HTTP token file " + path + " " + why);
  };
  os::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return fail(std::string("cannot be read: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return fail("is not a regular file");
  if ((st.st_mode & 077U) != 0) {
    std::array<char, 8> mode{};
    auto const end =
        std::to_chars(mode.data(), mode.data() + mode.size(), st.st_mode & 0777U, 8).ptr;
    return fail("may be read by other users (mode " + std::string(mode.data(), end) +
                "); chmod 600 it");
  }
  std::string text(4097, '\0');
  ssize_t const n = ::read(fd.get(), text.data(), text.size());
  if (n < 0) return fail(std::string("cannot be read: ") + std::strerror(errno));
  text.resize(static_cast<std::size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.size() > 4096) return fail("is too long (4096 bytes at most)");
  for (char const c : text) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return fail("holds more than one word; write the token alone on one line");
  }
  if (text.size() < 16) {
    return fail(
        text::format("holds a token of {} characters; use 16 or more (for example: "
                     "head -c 32 /dev/urandom | base64 > FILE)",
                     text.size()));
  }
  return text;
}

/// One command sent over HTTP: writes its request to the control server through a socket pair,
/// reads the reply lines, and answers the HTTP client with one JSON document. Owned by its
/// pending operations.
class http_command : public std::enable_shared_from_this<http_command> {
  using descriptor = boost::asio::posix::stream_descriptor;

 public:
  http_command(master_api& master, os::unique_fd fd, std::string name,
               statistics::responder respond)
      : master_(&master),
        sock_(master.io(), fd.release()),
        name_(std::move(name)),
        respond_(std::move(respond)) {
    master_->keep_from_workers(sock_.native_handle());
  }

  void start(std::string request) {
    request_ = std::move(request);
    boost::asio::async_write(
        sock_, boost::asio::buffer(request_),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t /*n*/) {
          if (ec) return self->end_of_reply();
          self->read();
        });
  }

 private:
  void read() {
    sock_.async_read_some(boost::asio::buffer(chunk_),
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                            if (ec) return self->end_of_reply();
                            self->lines_.append(self->chunk_.data(), n);
                            if (self->lines_.size() > max_reply) return self->end_of_reply();
                            self->take_lines();
                          });
  }

  void take_lines() {
    std::size_t nl = 0;
    while ((nl = lines_.find('\n')) != std::string::npos) {
      auto const r = parse_reply(std::string_view(lines_).substr(0, nl));
      lines_.erase(0, nl + 1);
      if (!r) return end_of_reply();
      if (r->kind == reply_kind::progress) {
        progress_.push_back(r->text);
        // The master ends with these two: answer while it can.
        if (name_ == "shutdown" || name_ == "stop") return finish(202, true, r->text);
        continue;
      }
      return finish(r->kind == reply_kind::ok ? 200 : 409, r->kind == reply_kind::ok, r->text);
    }
    read();
  }

  void end_of_reply() {
    if (name_ == "shutdown" || name_ == "stop") return finish(202, true, "the master exits");
    finish(502, false, "the master ended the command without an outcome");
  }

  void finish(unsigned status, bool ok, std::string const& text) {
    if (done_) return;
    done_ = true;
    std::string body =
        "{\"command\":" + json_string(name_) + ",\"ok\":" + std::string(ok ? "true" : "false") +
        (ok ? ",\"message\":" : ",\"error\":") + json_string(text) + ",\"progress\":[";
    for (std::size_t i = 0; i < progress_.size(); ++i)
      body += (i == 0 ? "" : ",") + json_string(progress_[i]);
    body += "]}\n";
    respond_({status, "application/json", std::move(body)});
    master_->release_to_workers(sock_.native_handle());
    boost::system::error_code ignored;
    sock_.close(ignored);
  }

  master_api* master_;
  descriptor sock_;
  std::string name_;
  statistics::responder respond_;
  std::string request_;
  std::array<char, 4096> chunk_{};
  std::string lines_;
  std::vector<std::string> progress_;
  bool done_ = false;
};

//=== the client ===//

inline std::string program_name(std::span<char* const> arguments) {
  if (arguments.empty() || arguments[0] == nullptr) return "server";
  std::string_view const path = arguments[0];
  auto const slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

inline void print_help(std::string const& program, std::span<user_command const> own) {
  std::printf("usage: %s [--json] [--no-wait] [COMMAND [ARGUMENT]]\n\n", program.c_str());
  std::printf(
      "With no command (or `start`), runs the server. Commands, answered by the running "
      "master:\n");
  auto const line = [](std::string_view name, std::string_view arguments,
                       std::string_view description) {
    std::string const head =
        std::string(name) + (arguments.empty() ? "" : " ") + std::string(arguments);
    std::printf("  %-18s %.*s\n", head.c_str(), static_cast<int>(description.size()),
                description.data());
  };
  for (auto const& c : commands) line(c.name, c.arguments, c.description);
  if (!own.empty()) std::printf("Commands of this program:\n");
  for (auto const& c : own) line(c.name, c.arguments, c.description);
  std::printf("  %-18s %s\n  %-18s %s\n  %-18s %s\n\nOptions:\n", "--help", "this text",
              "--version", "the control protocol's version", "completion bash",
              "a bash completion script: source <(server completion bash)");
  std::printf("  %-18s %s\n  %-18s %s\n", "--json", "one JSON document on stdout, nothing else",
              "--no-wait", "return once the master has accepted the command");
  std::printf(
      "\nExit status: 0 done; 1 failed or refused; 2 wrong usage; 3 (status) no master "
      "answers.\n");
}

/// A bash completion script for the command words, to be sourced:
/// `source <(./server completion bash)`.
inline void print_bash_completion(std::string const& program, std::span<user_command const> own) {
  std::string function = "_cluster_complete_";
  for (char const c : program) {
    bool const word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    function += word ? c : '_';
  }
  std::string words = "--help --version --json --no-wait completion";
  for (auto const& c : commands) words += " " + std::string(c.name);
  for (auto const& c : own) words += " " + std::string(c.name);
  std::printf(
      "# bash completion for %s: source <(%s completion bash)\n"
      "%s() {\n"
      "  local i\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    case ${COMP_WORDS[i]} in --json|--no-wait) ;; *) COMPREPLY=(); return ;; esac\n"
      "  done\n"
      "  COMPREPLY=($(compgen -W '%s' -- \"${COMP_WORDS[COMP_CWORD]}\"))\n"
      "}\n"
      "complete -F %s %s\n",
      program.c_str(), program.c_str(), function.c_str(), words.c_str(), function.c_str(),
      program.c_str());
}

/// The client's end of a connection: reads reply lines with a deadline.
class connection {
 public:
  explicit connection(os::unique_fd fd) : fd_(std::move(fd)) {}

  /// The pid of the process at the other end (the master), or 0.
  [[nodiscard]] int peer_pid() const noexcept {
    ucred peer{};
    socklen_t len = sizeof peer;
    return ::getsockopt(fd_.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 ? peer.pid : 0;
  }

  [[nodiscard]] bool send(std::string const& line) const {
    std::size_t done = 0;
    while (done < line.size()) {
      ssize_t const n = ::send(fd_.get(), line.data() + done, line.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  /// The next line (without its newline); nothing at end-of-file, on an error, when it is too
  /// long or when `limit` passes first (`timed_out` then says so). A negative limit: no limit.
  std::optional<std::string> line(std::chrono::milliseconds limit) {
    auto const until = steady::now() + limit;
    for (;;) {
      auto const nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string out = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return out;
      }
      if (buffer_.size() > max_reply) return std::nullopt;
      int wait = -1;
      if (limit.count() >= 0) {
        auto const left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now()).count();
        if (left <= 0) {
          timed_out = true;
          return std::nullopt;
        }
        wait = static_cast<int>(std::min<long long>(left, INT_MAX));
      }
      pollfd p{fd_.get(), POLLIN, 0};
      int const r = ::poll(&p, 1, wait);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return std::nullopt;
      if (r == 0) continue;
      char buf[4096];
      ssize_t const n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }

  bool timed_out = false;

 private:
  os::unique_fd fd_;
  std::string buffer_;
};

/// `console`: relays stdin to the master's console on `fd` and its answers to stdout, until the
/// master closes the connection (after `quit`, or after answering what stdin held when stdin
/// ends). 0 then; 1 when the master refuses the console.
inline int console(os::unique_fd fd) {
  if (!connection(os::unique_fd(::dup(fd.get()))).send(format_request("console"))) {
    std::fprintf(stderr, "cluster: console: the master closed the connection\n");
    return 1;
  }
  bool greeted = false;
  bool input = true;
  std::string first;  ///< the start of the master's answer, until it is known to be a console
  for (;;) {
    // Stdin is read once the master has greeted: a line sent before would reach it while it
    // still reads the request.
    pollfd p[2] = {{fd.get(), POLLIN, 0}, {input && greeted ? STDIN_FILENO : -1, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    char buf[4096];
    if (p[1].revents != 0) {
      ssize_t const n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // The master answers what it has, then closes.
        ::shutdown(fd.get(), SHUT_WR);
        input = false;
      } else {
        std::size_t done = 0;
        while (done < static_cast<std::size_t>(n)) {
          ssize_t const w =
              ::send(fd.get(), buf + done, static_cast<std::size_t>(n) - done, MSG_NOSIGNAL);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) break;
          done += static_cast<std::size_t>(w);
        }
      }
    }
    if (p[0].revents == 0) continue;
    ssize_t const n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (greeted) return 0;
      std::fprintf(stderr, "cluster: console: the master closed the connection\n");
      return 1;
    }
    std::string_view got(buf, static_cast<std::size_t>(n));
    if (!greeted) {
      first.append(got);
      constexpr std::string_view greeting = "cluster console:";
      if (first.size() < greeting.size() && first.find('\n') == std::string::npos &&
          greeting.starts_with(first))
        continue;
      if (!first.starts_with(greeting)) {
        auto const reply = parse_reply(first.substr(0, first.find('\n')));
        std::fprintf(stderr, "cluster: console: %s\n",
                     reply ? reply->text.c_str()
                           : ("the master's answer is not cluster-control " +
                              std::to_string(control::version) + ": " + first.substr(0, 200))
                                 .c_str());
        return 1;
      }
      greeted = true;
      got = first;
    }
    std::fwrite(got.data(), 1, got.size(), stdout);
    std::fflush(stdout);
  }
}

/// A pid file's process, for `status` when no master answers.
struct pid_entry {
  std::string name;  ///< "master", "worker.0"
  int pid = 0;
  std::string verdict;  ///< "alive", "dead (no process)", ...
  bool alive = false;
};

/// A small file's content (a /proc file); empty when it cannot be read.
inline std::string read_small(std::string const& path) {
  std::string out;
  os::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  return out;
}

/// What /proc/PID/stat tells of a process: nothing when it is gone.
struct process_facts {
  char state = 0;      ///< `R`, `S`, `Z`, ...
  double started = 0;  ///< when it started, in seconds since the epoch; 0 if unknown
};

inline std::optional<process_facts> facts_of(int pid) {
  std::string const stat = read_small("/proc/" + std::to_string(pid) + "/stat");
  auto const close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return std::nullopt;
  process_facts f;
  f.state = stat[close + 2];
  // Fields after the name: the state is field 3, the start time (clock ticks after boot) 22.
  std::size_t pos = close + 2;
  for (int field = 3; field < 22 && pos != std::string::npos; ++field) {
    pos = stat.find(' ', pos);
    if (pos != std::string::npos) ++pos;
  }
  std::string const machine = read_small("/proc/stat");
  auto const boot = machine.find("\nbtime ");
  if (pos != std::string::npos && boot != std::string::npos) {
    f.started =
        std::strtod(machine.c_str() + boot + 7, nullptr) +
        std::strtod(stat.c_str() + pos, nullptr) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  return f;
}

/// What the pid file `<directory>/<name>.pid` says, checked against the running processes: a
/// pid whose process started after the file was written has been reused by another process, and
/// is not alive.
inline pid_entry inspect_pid_file(std::filesystem::path const& directory, std::string name) {
  pid_entry e;
  e.pid = pidfiles{directory}.pidof(name);
  e.name = std::move(name);
  if (e.pid <= 0) {
    e.verdict = "unreadable pid file";
    return e;
  }
  auto const facts = facts_of(e.pid);
  if (!facts) {
    e.verdict = "dead (stale pid file: no process " + std::to_string(e.pid) + ")";
    return e;
  }
  struct stat st {};
  ::stat(pidfiles{directory}.path_of(e.name).c_str(), &st);
  double const written =
      static_cast<double>(st.st_mtim.tv_sec) + static_cast<double>(st.st_mtim.tv_nsec) / 1e9;
  // The start time is in clock ticks: allow a tick and a second of skew.
  if (facts->started > written + 1.5) {
    e.verdict = "dead (stale pid file: pid " + std::to_string(e.pid) +
                " now belongs to a process started after the file was written)";
    return e;
  }
  if (facts->state == 'Z') {
    e.verdict = "dead (a zombie)";
    return e;
  }
  e.alive = true;
  e.verdict = "alive";
  return e;
}

/// True once `pid` has exited (gone, or a zombie its parent has not reaped yet).
inline bool exited(int pid) {
  auto const facts = facts_of(pid);
  return !facts || facts->state == 'Z';
}

/// `status` when no master answers: what the pid files say. Exit status 3.
inline int status_from_pid_files(std::filesystem::path const& directory, std::string const& why,
                                 bool json) {
  std::vector<pid_entry> entries;
  std::error_code ec;
  if (std::filesystem::exists(directory / "master.pid", ec))
    entries.push_back(inspect_pid_file(directory, "master"));
  std::vector<unsigned> workers;
  for (auto it = std::filesystem::directory_iterator(directory, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string const f = it->path().filename().string();
    unsigned id = 0;
    if (f.starts_with("worker.") && f.ends_with(".pid")) {
      auto const digits = std::string_view(f).substr(7, f.size() - 11);
      auto const [end, e] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
      if (e == std::errc{} && end == digits.data() + digits.size() && !digits.empty())
        workers.push_back(id);
    }
  }
  std::sort(workers.begin(), workers.end());
  for (unsigned const id : workers)
    entries.push_back(inspect_pid_file(directory, "worker." + std::to_string(id)));

  std::fprintf(stderr, "cluster: no master answers (%s); from the pid files in %s:\n", why.c_str(),
               directory.c_str());
  if (json) {
    std::string out = "{\"master_answers\":false,\"pid_files\":[";
    bool first = true;
    for (auto const& e : entries) {
      out += (first ? "{" : ",{") + std::string("\"name\":") + json_string(e.name) +
             ",\"pid\":" + std::to_string(e.pid) + ",\"alive\":" + (e.alive ? "true" : "false") +
             ",\"verdict\":" + json_string(e.verdict) + "}";
      first = false;
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
  } else {
    if (entries.empty()) std::printf("no pid files\n");
    for (auto const& e : entries)
      std::printf("%-10s pid %-8d %s\n", e.name.c_str(), e.pid, e.verdict.c_str());
  }
  std::fflush(stdout);
  return 3;
}

}  // namespace detail::control

CLUSTER_DECL std::filesystem::path cli_base::socket_of(std::string_view socket_path,
                                                       std::filesystem::path const& directory) {
  std::filesystem::path const p(socket_path);
  return p.is_absolute() ? p : directory / p;
}

CLUSTER_DECL std::optional<int> cli_base::run_command(
    std::span<char* const> arguments, core_settings const& settings,
    std::filesystem::path const& pid_directory,
    std::span<detail::control::user_command const> commands) {
  namespace c = detail::control;
  bool json = false;
  bool wait = true;
  std::vector<std::string> words;
  for (std::size_t i = 1; i < arguments.size() && arguments[i] != nullptr; ++i) {
    std::string_view const a = arguments[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--no-wait") {
      wait = false;
    } else {
      words.emplace_back(a);
    }
  }
  std::string const program = c::program_name(arguments);
  if (words.empty()) {
    if (!json && wait) return std::nullopt;
    std::fprintf(stderr, "cluster: --json and --no-wait go with a command; try '%s --help'\n",
                 program.c_str());
    return 2;
  }
  if (words[0] == "start" && words.size() == 1 && !json && wait) return std::nullopt;
  if (words[0] == "--help" || words[0] == "help" || words[0] == "-h") {
    c::print_help(program, commands);
    return 0;
  }
  if (words[0] == "completion") {
    if (words.size() != 2 || words[1] != "bash") {
      std::fprintf(stderr, "cluster: completion takes the shell: '%s completion bash'\n",
                   program.c_str());
      return 2;
    }
    c::print_bash_completion(program, commands);
    return 0;
  }
  if (words[0] == "--version") {
    std::printf("%s: cluster control protocol %u\n", program.c_str(), control::version);
    return 0;
  }
  auto const command = c::find_command(words[0], commands);
  if (!command) {
    std::fprintf(stderr, "cluster: unknown command '%s'; run '%s --help' for the commands\n",
                 words[0].c_str(), program.c_str());
    return 2;
  }
  if (words.size() - 1 < command->least || words.size() - 1 > command->count) {
    std::string const n = command->least == command->count
                              ? std::to_string(command->count)
                              : text::format("{} or {}", command->least, command->count);
    std::fprintf(stderr, "cluster: %s takes %s argument%s; run '%s --help'\n", words[0].c_str(),
                 n.c_str(), command->count == 1 ? "" : "s", program.c_str());
    return 2;
  }

  // The paths the master uses are relative to its working directory.
  std::filesystem::path directory = pid_directory;
  if (directory.is_relative() && !settings.working_directory.empty())
    directory = std::filesystem::path(settings.working_directory) / directory;
  std::string const path = socket_of(settings.socket_path, directory).string();

  auto const fail = [&](std::string const& why) {
    if (json) {
      std::printf("{\"command\":%s,\"ok\":false,\"error\":%s}\n",
                  control::json_string(words[0]).c_str(), control::json_string(why).c_str());
    }
    std::fprintf(stderr, "cluster: %s: %s\n", words[0].c_str(), why.c_str());
    return 1;
  };

  sockaddr_un addr{};
  try {
    addr = c::address_of(path);
  } catch (startup_error const& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  os::unique_fd fd = c::connect_to(addr);
  if (!fd) {
    std::string const why = "nothing answers on " + path + ": " + std::strerror(errno);
    if (command->name == "status") return c::status_from_pid_files(directory, why, json);
    return fail(why + "; is the master running?");
  }
  if (command->name == "console") {
    if (json) {
      std::fprintf(stderr, "cluster: console has no JSON form; run '%s console'\n",
                   program.c_str());
      return 2;
    }
    return c::console(std::move(fd));
  }
  c::connection conn(std::move(fd));
  int const master_pid = conn.peer_pid();
  std::vector<std::string> const args(words.begin() + 1, words.end());
  if (!conn.send(control::format_request(words[0], args)))
    return fail("the master closed the connection");

  // The first reply comes at once; an outcome may take as long as the master needs.
  std::chrono::milliseconds limit = std::chrono::seconds(10);
  for (;;) {
    auto const line = conn.line(limit);
    if (!line) {
      if (conn.timed_out) return fail("the master did not answer within 10 s");
      if (limit.count() < 0 && command->waits) {
        // End-of-file after the master accepted a shutdown: it closed the socket as its last
        // step; the process ends a moment later.
        auto const until = c::steady::now() + std::chrono::seconds(30);
        while (master_pid > 0 && !c::exited(master_pid) && c::steady::now() < until)
          ::poll(nullptr, 0, 10);
        if (json) {
          std::printf("{\"command\":%s,\"ok\":true,\"message\":\"the master has exited\"}\n",
                      control::json_string(words[0]).c_str());
        } else {
          std::fprintf(stderr, "cluster: the master has exited\n");
        }
        return 0;
      }
      return fail("the master closed the connection without an answer");
    }
    auto const reply = control::parse_reply(*line);
    if (!reply) {
      return fail("the master's answer is not cluster-control " + std::to_string(control::version) +
                  " (the master runs another build?): " + line->substr(0, 200));
    }
    switch (reply->kind) {
      case control::reply_kind::progress:
        std::fprintf(stderr, "cluster: %s\n", reply->text.c_str());
        std::fflush(stderr);
        if (!wait) {
          if (json) {
            std::printf("{\"command\":%s,\"ok\":true,\"message\":%s}\n",
                        control::json_string(words[0]).c_str(),
                        control::json_string(reply->text).c_str());
          }
          return 0;
        }
        limit = std::chrono::milliseconds(-1);
        break;
      case control::reply_kind::error:
        return fail(reply->text);
      case control::reply_kind::ok:
        if (command->name == "status") {
          if (json) {
            std::printf("%s\n", reply->text.c_str());
          } else {
            std::fputs(c::status_text(reply->text).c_str(), stdout);
          }
        } else if (json) {
          std::printf("{\"command\":%s,\"ok\":true,\"message\":%s}\n",
                      control::json_string(words[0]).c_str(),
                      control::json_string(reply->text).c_str());
        } else if (c::find_command(words[0], {})) {
          std::fprintf(stderr, "cluster: %s\n", reply->text.c_str());
        } else {
          // A command of the program's own: its answer is its output.
          std::printf("%s\n", reply->text.c_str());
        }
        return 0;
    }
  }
}

CLUSTER_DECL void cli_base::start(master_api& master, std::filesystem::path const& pid_directory,
                                  std::vector<detail::control::user_command> commands, bool http) {
  started_ = std::chrono::steady_clock::now();
  commands_ = std::move(commands);
  if (!token_file_.empty()) {
    if (!http) {
      throw startup_error(
          "cluster: cli: http_token_file() needs an HTTP endpoint: use the stats plugin with a "
          "metrics address, e.g. .use(cluster::stats{.metrics = \"127.0.0.1:9100\"})");
    }
    token_ = detail::control::read_token(token_file_);
  }
  path_ = std::filesystem::absolute(socket_of(master.settings().socket_path, pid_directory));
  if (master.restarted()) {
    // The predecessor still answers there; this master takes the socket over once it serves.
    deferred_ = true;
    return;
  }
  open(master, false);
}

CLUSTER_DECL void cli_base::open(master_api& master, bool take_over) {
  namespace c = detail::control;
  c::access_policy policy;
  if (!group_.empty()) policy.full = c::group_id(group_, "group");
  if (!read_only_group_.empty())
    policy.read_only = c::group_id(read_only_group_, "read-only group");
  auto server =
      std::make_shared<c::server>(master, c::bind_socket(path_.string(), take_over, policy),
                                  path_.string(), started_, commands_, policy);
  server->start();
  server_ = server;
}

CLUSTER_DECL detail::statistics::http_routes cli_base::http_routes(master_api& master) {
  return [this, &master](detail::statistics::http_request const& r,
                         detail::statistics::responder const& respond) {
    return serve_http(master, r, respond);
  };
}

CLUSTER_DECL bool cli_base::serve_http(master_api& master,
                                       detail::statistics::http_request const& r,
                                       detail::statistics::responder const& respond) {
  namespace c = detail::control;
  using detail::statistics::http_reply;
  auto const refuse = [&](unsigned status, std::string const& name, std::string const& why,
                          std::string headers = {}) {
    respond(http_reply{status, "application/json",
                       "{\"command\":" + c::json_string(name) +
                           ",\"ok\":false,\"error\":" + c::json_string(why) + ",\"progress\":[]}\n",
                       std::move(headers)});
    return true;
  };
  if (r.path == "/status") {
    if (r.method != "GET" && r.method != "HEAD")
      return refuse(405, "status", "GET /status", "Allow: GET, HEAD\r\n");
    respond(http_reply{200, "application/json", c::status_json(master, started_) + "\n"});
    return true;
  }
  if (r.path.size() < 2 || r.path[0] != '/') return false;
  std::string const name = r.path.substr(1);
  auto const command = c::find_command(name, commands_);
  if (!command || name == "console") return false;
  if (r.method != "POST")
    return refuse(405, name, "POST /" + name + ", with the token", "Allow: POST\r\n");
  if (token_.empty()) {
    return refuse(403, name,
                  "commands over HTTP are off: the cli plugin has no token (http_token_file)");
  }
  if (!c::token_matches(r.authorization, token_)) {
    std::fprintf(stderr, "cluster: control: refused %s (http %s): no valid token\n", name.c_str(),
                 r.peer.c_str());
    std::fflush(stderr);
    return refuse(401, name, "send the token: Authorization: Bearer TOKEN",
                  "WWW-Authenticate: Bearer\r\n");
  }
  std::vector<std::string> words;
  for (auto const word : c::split_words(r.body, " \t\r\n")) words.emplace_back(word);
  if (words.size() < command->least || words.size() > command->count) {
    return refuse(400, name,
                  text::format("{} takes {} (the request's body, separated by blanks)", name,
                               command->arguments.empty() ? std::string("no argument")
                                                          : std::string(command->arguments)));
  }
  std::string request = c::format_request(name, words);
  if (request.size() > c::max_request) return refuse(400, name, "the arguments are too long");
  auto server = server_.lock();
  if (!server) {
    return refuse(503, name,
                  "the control plane is not open yet (a restarted master opens it once its "
                  "workers accept)");
  }
  std::array<int, 2> pair{};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair.data()) != 0)
    return refuse(503, name, std::string("cannot run the command: ") + std::strerror(errno));
  os::unique_fd ours(pair[0]);
  if (!server->adopt(os::unique_fd(pair[1]), "http " + r.peer))
    return refuse(503, name, "busy: too many control clients");
  std::make_shared<c::http_command>(master, std::move(ours), name, respond)
      ->start(std::move(request));
  return true;
}

CLUSTER_DECL void cli_base::on(events::ready const& /*event*/, master_api& master) {
  if (!deferred_) return;
  deferred_ = false;
  try {
    open(master, true);
  } catch (std::exception const& e) {
    std::fprintf(stderr, "%s; the control socket stays off\n", e.what());
  }
}

CLUSTER_DECL void detail::control::endpoint::on(events::rolling_restart_done const& event,
                                                master_api& /*master*/) {
  if (auto s = server_.lock())
    s->roll_finished(true, text::format("every worker replaced ({})", event.replaced));
}

CLUSTER_DECL void detail::control::endpoint::on(events::rolling_restart_failed const& event,
                                                master_api& /*master*/) {
  if (auto s = server_.lock()) {
    s->roll_finished(false, text::format("rolling restart failed: the new worker {} died before "
                                         "it accepted ({}); the other workers keep serving",
                                         event.pid, event.why));
  }
}

CLUSTER_DECL void detail::control::endpoint::on(events::restarting const& /*event*/,
                                                master_api& /*master*/) {
  if (auto s = server_.lock()) s->restart_begun("starting a new master");
}

CLUSTER_DECL void detail::control::endpoint::on(events::cyclic_restart const& event,
                                                master_api& /*master*/) {
  if (auto s = server_.lock()) {
    s->restart_begun(
        text::format("the last restart was too recent: restarting in {} ms", event.delay.count()));
  }
}

CLUSTER_DECL void detail::control::endpoint::on(events::restart_failed const& event,
                                                master_api& /*master*/) {
  if (auto s = server_.lock())
    s->restart_finished(
        false, "restart failed: " + std::string(event.why) + "; the old master keeps serving");
}

CLUSTER_DECL void detail::control::endpoint::on(events::closing const& /*event*/,
                                                master_api& /*master*/) {
  // A restart command still waiting when this master begins to stop: the new master serves
  // (a restart that fails says so before, with `restart_failed`).
  if (auto s = server_.lock(); s && s->restart_waited())
    s->restart_finished(true, "the new master serves; the old one stops");
}

CLUSTER_DECL void detail::control::endpoint::on(events::close const& /*event*/,
                                                master_api& /*master*/) {
  if (auto s = server_.lock()) s->stop();
}

CLUSTER_DECL void detail::control::endpoint::on(events::start_refused const& /*event*/,
                                                master_api& /*master*/) {
  if (auto s = server_.lock()) s->stop();
}

}  // namespace cluster
