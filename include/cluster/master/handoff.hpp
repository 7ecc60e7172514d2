// SPDX-License-Identifier: BSL-1.0
// A master restart without downtime: both ends of the handoff to a new master, and the delay of a
// restart that came too soon. The wire format of what plugins hand over is restart_state.hpp.
#pragma once

#include <cluster/os/fd.hpp>
#include <cluster/os/listen.hpp>
#include <cluster/os/notify.hpp>
#include <cluster/os/process.hpp>
#include <cluster/os/startup_error.hpp>
#include <cluster/os/successor.hpp>
#include <cluster/restart_state.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cluster::detail {

/// The environment variable that tells a successor when its predecessor's restart began (steady
/// clock ticks, the same clock in every process), for its cyclic-restart guard.
inline constexpr char const* restarted_at_variable = "CLUSTER_RESTARTED_AT";

/// The old master's side of a master restart: the successor process, its handoff socket and the
/// deadline by which it must be serving.
///
/// It reports once, through the callback given to `start`: `ready` (every worker of the
/// successor accepts) or `failed` with a reason (it could not be executed, it exited, it was too
/// slow). After `failed` the successor is stopped (SIGTERM: a hard stop of that master and its
/// workers) and only its exit is still awaited.
class successor_link {
 public:
  enum class news : std::uint8_t { ready, failed };
  using callback = std::function<void(news, std::string const& why)>;

  explicit successor_link(boost::asio::io_context& io) : io_(io), deadline_(io) {}

  /// True from `start` until the successor's exit has been reaped.
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }
  /// True while a restart is under way: started, neither ready nor given up.
  [[nodiscard]] bool pending() const noexcept { return running() && !ready_ && !failed_; }
  [[nodiscard]] int pid() const noexcept { return pid_; }
  /// Our end of the handoff socket, for workers forked meanwhile to close; -1 if none.
  [[nodiscard]] int handoff_fd() const noexcept {
    return handoff_ ? handoff_->native_handle() : -1;
  }

  /// Starts the successor from `plan` (its `handoff` is filled in here), sends it `state`, and
  /// expects it to be serving within `ready_within`. Throws when it cannot be started at all.
  void start(os::successor_plan plan, std::string const& state,
             std::chrono::milliseconds ready_within, callback on_news) {
    auto [mine, theirs] = os::make_socketpair(SOCK_STREAM);
    plan.handoff = theirs.get();
    int pid;
    {
      // As for workers: no signal handler of ours may run between fork() and exec().
      os::signal_block blocked;
      pid = os::start_successor(plan);
    }
    pid_ = pid;
    executable_ = plan.executable;
    ready_ = failed_ = false;
    reply_.clear();
    on_news_ = std::move(on_news);
    handoff_ = std::make_unique<descriptor>(io_, mine.release());
    outgoing_ = os::frame_handoff_state(state);
    // A successor that dies before reading the state is reported by its exit, not here.
    boost::asio::async_write(*handoff_, boost::asio::buffer(outgoing_),
                             [](boost::system::error_code, std::size_t) {});
    read();
    deadline_.expires_after(ready_within);
    deadline_.async_wait([this, ready_within](boost::system::error_code ec) {
      if (ec || !pending()) return;
      fail("the new master did not have every worker accepting within timeout (" +
           std::to_string(ready_within.count()) + " ms)");
    });
  }

  /// The successor ended (its status reaped by the master).
  void exited(os::exit_status const& status) {
    if (pending()) {
      fail("the new master ended with " + os::describe_exit(status) +
           " before its workers were ready");
    }
    pid_ = 0;
    handoff_.reset();
    deadline_.cancel();
  }

  /// Gives the successor up without a report (a shutdown of this master began): it must not
  /// outlive us half started.
  void abandon() {
    if (!pending()) return;
    failed_ = true;
    deadline_.cancel();
    ::kill(pid_, SIGTERM);
  }

 private:
  using descriptor = boost::asio::posix::stream_descriptor;

  void read() {
    handoff_->async_read_some(
        boost::asio::buffer(incoming_), [this](boost::system::error_code ec, std::size_t n) {
          // EOF or an error: the successor's exit says what happened.
          if (ec || !handoff_) return;
          reply_.append(incoming_.data(), n);
          for (std::size_t eol; (eol = reply_.find('\n')) != std::string::npos;) {
            std::string const line = reply_.substr(0, eol);
            reply_.erase(0, eol + 1);
            handle(line);
          }
          if (handoff_) read();
        });
  }

  void handle(std::string const& line) {
    if (line == "ready" && pending()) {
      ready_ = true;
      deadline_.cancel();
      on_news_(news::ready, {});
    } else if (line.starts_with("exec ")) {
      int const error = std::atoi(line.c_str() + 5);
      fail("cannot execute " + executable_ + ": " + std::strerror(error));
    }
  }

  void fail(std::string const& why) {
    if (!pending()) return;
    failed_ = true;
    deadline_.cancel();
    ::kill(pid_, SIGTERM);
    on_news_(news::failed, why);
  }

  boost::asio::io_context& io_;
  boost::asio::steady_timer deadline_;
  std::unique_ptr<descriptor> handoff_;
  std::string outgoing_;
  std::array<char, 256> incoming_{};
  std::string reply_;
  callback on_news_;
  std::string executable_;
  int pid_ = 0;
  bool ready_ = false;
  bool failed_ = false;
};

/// The new master's side of a master restart: the handoff socket from its predecessor, the state
/// read from it, and the predecessor's end.
class predecessor_link {
 public:
  explicit predecessor_link(boost::asio::io_context& io) : io_(io) {}

  /// Takes the handoff socket named in the environment, if any, and reads the state from it.
  /// False when this master was not started by a predecessor.
  bool adopt() {
    int const fd = os::take_handoff_fd();
    if (fd < 0) return false;
    handoff_ = std::make_unique<descriptor>(io_, fd);
    // The predecessor writes the state right after it started us: a short wait is plenty.
    if (auto bytes = os::read_handoff_state(fd, std::chrono::seconds(10))) {
      state_ = restart_state::parse(*bytes);
    } else {
      std::fprintf(stderr,
                   "cluster: restart: the previous master's state could not be read; starting "
                   "without it\n");
    }
    return true;
  }

  /// True from `adopt` until the predecessor is gone.
  [[nodiscard]] bool present() const noexcept { return handoff_ != nullptr; }
  [[nodiscard]] int handoff_fd() const noexcept {
    return handoff_ ? handoff_->native_handle() : -1;
  }

  /// Tells the predecessor that every worker accepts: it hands over and stops.
  void announce_ready() const {
    if (!handoff_) return;
    std::string_view const line = "ready\n";
    [[maybe_unused]] auto n = ::write(handoff_->native_handle(), line.data(), line.size());
  }

  /// Calls `on_gone(state)` once the predecessor has exited (its end of the socket closed).
  void watch(std::function<void(restart_state const&)> on_gone) {
    on_gone_ = std::move(on_gone);
    wait();
  }

 private:
  using descriptor = boost::asio::posix::stream_descriptor;

  void wait() {
    handoff_->async_wait(descriptor::wait_read, [this](boost::system::error_code ec) {
      if (ec) return;
      char buf[64];
      ssize_t const n = ::read(handoff_->native_handle(), buf, sizeof buf);
      if (n > 0 || (n < 0 && errno == EINTR)) {
        wait();
        return;
      }
      handoff_.reset();
      restart_state const state = std::move(state_);
      state_ = restart_state{};
      on_gone_(state);
    });
  }

  boost::asio::io_context& io_;
  std::unique_ptr<descriptor> handoff_;
  restart_state state_;
  std::function<void(restart_state const&)> on_gone_;
};

/// A restart put off by the cyclic-restart guard: one at a time, run when the delay is over.
class delayed_restart {
 public:
  explicit delayed_restart(boost::asio::io_context& io) : timer_(io) {}

  [[nodiscard]] bool pending() const noexcept { return pending_; }

  /// Runs `then` after `delay`, unless cancelled meanwhile.
  void start(std::chrono::milliseconds delay, std::function<void()> then) {
    pending_ = true;
    then_ = std::move(then);
    timer_.expires_after(delay);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || !pending_) return;
      pending_ = false;
      then_();
    });
  }

  void cancel() {
    pending_ = false;
    timer_.cancel();
  }

 private:
  boost::asio::steady_timer timer_;
  std::function<void()> then_;
  bool pending_ = false;
};

/// What a successor of this master is started with: its executable, command line and starting
/// directory as this master was started, the listeners (descriptors 3..), when the restart
/// began (`restarted_at_variable`, for the successor's cyclic-restart guard) and the service
/// manager's socket, which the master took out of its own environment.
inline os::successor_plan plan_successor(std::string const& executable,
                                         std::vector<std::string> const& command,
                                         std::string const& directory,
                                         std::span<os::listener const> listeners,
                                         os::notifier const& notifier,
                                         std::chrono::steady_clock::time_point restarted_at) {
  os::successor_plan plan;
  plan.executable = executable;
  plan.arguments = command;
  if (plan.arguments.empty()) plan.arguments.push_back(executable);
  plan.directory = directory;
  for (auto const& l : listeners) {
    plan.listeners.push_back(l.fd.get());
    plan.listener_names.push_back(l.family == AF_UNIX ? "unix" : "tcp");
  }
  plan.environment.push_back(std::string(restarted_at_variable) + "=" +
                             std::to_string(restarted_at.time_since_epoch().count()));
  if (notifier.enabled()) {
    plan.environment.push_back("NOTIFY_SOCKET=" + notifier.address());
    if (auto wd = notifier.watchdog())
      plan.environment.push_back("WATCHDOG_USEC=" + std::to_string(wd->count()));
  }
  return plan;
}

}  // namespace cluster::detail
