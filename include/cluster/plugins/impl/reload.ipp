// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/plugins/reload.hpp>: inline in each program (header-only), or compiled
// once into cluster::compiled (see <cluster/src.hpp>). Nothing here is per configuration.
#pragma once

#include <cluster/os/check.hpp>
#include <cluster/os/startup_error.hpp>
#include <cluster/os/watch.hpp>
#include <cluster/plugins/reload.hpp>
#include <cluster/plugins/reload/schedule.hpp>
#include <cluster/plugins/wording.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cluster {

namespace detail {

/// The master's side of the reload plugin: the watch, the schedule, and a running check of a new
/// build. Owned by the plugin and by its pending operations (the Asio way).
class reload_state : public std::enable_shared_from_this<reload_state> {
 public:
  using clock = std::chrono::steady_clock;

  struct options {
    std::vector<std::string> paths;
    std::vector<std::string> extensions;
    std::chrono::milliseconds quiet;
    std::chrono::milliseconds minimum_interval;
    bool restart_on_change = false;
    bool executable = true;
  };

  reload_state(master_api& master, options const& opts)
      : master_(&master),
        io_(master.io()),
        options_(opts),
        executable_(master.executable()),
        schedule_(opts.quiet, opts.minimum_interval),
        events_(io_),
        due_(io_),
        poll_timer_(io_),
        check_out_(io_),
        check_timer_(io_) {}

  /// Opens the watch; what cannot be watched is said once.
  void open() {
    if (open_) return;
    open_ = true;
    os::watch_filter filter;
    filter.extensions = options_.extensions;
    filter.excluded = master_->written_paths();
    std::string const here = os_current_directory();
    std::vector<std::string> files;
    std::vector<std::string> trees;
    for (auto const& p : options_.paths) {
      std::string const full = p.starts_with('/') ? p : here + "/" + p;
      struct stat st {};
      if (::stat(full.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        trees.push_back(full);
      } else {
        files.push_back(full);
      }
    }
    os::tree_watch watch(filter);
    bool ok = watch.available();
    // The executable is watched by its own name (a build renamed over it).
    if (ok && options_.executable) ok = watch.add_file(executable_);
    for (auto const& t : trees) ok = ok && watch.add_tree(t);
    for (auto const& f : files) ok = ok && watch.add_file(f);
    if (ok) {
      watch_ = std::make_unique<os::tree_watch>(std::move(watch));
      // The event loop waits on a duplicate; both are the master's alone.
      events_.assign(::fcntl(watch_->fd(), F_DUPFD_CLOEXEC, 3));
      master_->keep_from_workers(watch_->fd());
      master_->keep_from_workers(events_.native_handle());
      wait_events();
    } else {
      std::fprintf(stderr, "cluster: reload: %s; polling the watched files every second instead\n",
                   watch.available() ? std::strerror(watch.error()) : "inotify is not available");
      std::fflush(stderr);
      poll_ = std::make_unique<os::poll_watch>(filter);
      if (options_.executable) poll_->add_file(executable_);
      for (auto const& t : trees) poll_->add_tree(t);
      for (auto const& f : files) poll_->add_file(f);
      poll_->scan();
      wait_poll();
    }
  }

  /// Closes the watch (a shutdown, a master restart); a check under way is abandoned.
  void close() {
    open_ = false;
    boost::system::error_code ignored;
    if (events_.is_open()) {
      master_->release_to_workers(events_.native_handle());
      if (watch_) master_->release_to_workers(watch_->fd());
      events_.cancel(ignored);
      events_.close(ignored);
    }
    watch_.reset();
    poll_.reset();
    poll_timer_.cancel();
    due_.cancel();
    abandon_check();
  }

  /// The reload under way ended (a rolling restart done or failed, a master restart failed).
  void finished() {
    if (!running_) return;
    running_ = false;
    schedule_.finished();
    arm();
  }

  /// True while a rolling restart this plugin asked for runs.
  [[nodiscard]] bool rolling() const noexcept { return running_ && rolling_; }

 private:
  static std::string os_current_directory() {
    std::array<char, 4096> buf{};
    return ::getcwd(buf.data(), buf.size()) != nullptr ? std::string(buf.data()) : std::string(".");
  }

  void wait_events() {
    events_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](boost::system::error_code ec) {
                         if (ec || !self->open_ || !self->watch_) return;
                         self->seen(self->watch_->read());
                         self->wait_events();
                       });
  }

  void wait_poll() {
    poll_timer_.expires_after(std::chrono::seconds(1));
    poll_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || !self->open_ || !self->poll_) return;
      self->seen(self->poll_->scan());
      self->wait_poll();
    });
  }

  void seen(std::vector<std::string> const& paths) {
    auto const now = clock::now();
    for (auto const& p : paths) {
      bool const exe = p == executable_;
      // A removed executable is not a new build (an install that removes, then writes): the
      // new file is seen once it is complete.
      if (exe && ::access(p.c_str(), F_OK) != 0) continue;
      reload_kind const kind =
          exe || options_.restart_on_change ? reload_kind::master : reload_kind::workers;
      schedule_.changed(p, kind, now);
    }
    if (!paths.empty()) arm();
  }

  void arm() {
    auto const at = schedule_.due();
    if (!at) return;
    due_.expires_at(*at);
    due_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || !self->open_) return;
      self->act();
    });
  }

  void act() {
    if (master_->state() != master_state::active) return;
    auto r = schedule_.take(clock::now());
    if (!r) {
      arm();
      return;
    }
    running_ = true;
    rolling_ = r->what == reload_kind::workers;
    events::reload const said{r->path, r->changes, !rolling_};
    std::fprintf(stderr, "cluster: %s\n", wording::of(said).text.c_str());
    std::fflush(stderr);
    master_->announce(said);
    if (rolling_) {
      master_->restart_workers();
      return;
    }
    start_check();
  }

  void start_check() {
    try {
      check_ = os::start_check(executable_, master_->command_line(),
                               std::string(master_->start_directory()));
    } catch (std::exception const& e) {
      report_check(os::check_outcome{-1, e.what()});
      return;
    }
    check_output_.clear();
    // The event loop reads the pipe itself; the check's end of it is closed with `check_`.
    check_out_.assign(check_->output.release());
    master_->keep_from_workers(check_out_.native_handle());
    check_deadline_ = clock::now() + check_limit;
    read_check();
  }

  void read_check() {
    check_out_.async_read_some(
        boost::asio::buffer(check_buf_),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
          if (!self->check_) return;
          if (!ec) {
            if (self->check_output_.size() < 65536)
              self->check_output_.append(self->check_buf_.data(), n);
            self->read_check();
            return;
          }
          if (ec == boost::asio::error::operation_aborted) return;
          self->await_exit();  // end of file: the check is exiting
        });
  }

  void await_exit() {
    int st = 0;
    pid_t const got = ::waitpid(check_->pid, &st, WNOHANG);
    if (got == check_->pid || (got < 0 && errno == ECHILD)) {
      os::check_outcome out;
      out.status = got < 0 ? -1 : (WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
      out.line = got < 0 ? "its exit status was collected elsewhere" : os::last_line(check_output_);
      end_check();
      report_check(out);
      return;
    }
    if (clock::now() >= check_deadline_) {
      ::kill(check_->pid, SIGKILL);
      while (::waitpid(check_->pid, &st, 0) < 0 && errno == EINTR) {
      }
      end_check();
      report_check(os::check_outcome{
          128 + SIGKILL,
          "it did not finish within " + std::to_string(check_limit.count()) + " ms"});
      return;
    }
    check_timer_.expires_after(std::chrono::milliseconds(5));
    check_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || !self->check_) return;
      self->await_exit();
    });
  }

  void end_check() {
    boost::system::error_code ignored;
    if (check_out_.is_open()) {
      master_->release_to_workers(check_out_.native_handle());
      check_out_.close(ignored);
    }
    check_.reset();
  }

  void abandon_check() {
    if (!check_) return;
    ::kill(check_->pid, SIGKILL);
    int st = 0;
    while (::waitpid(check_->pid, &st, 0) < 0 && errno == EINTR) {
    }
    end_check();
    check_timer_.cancel();
  }

  void report_check(os::check_outcome const& out) {
    if (!out.ok()) {
      std::fprintf(stderr,
                   "cluster: reload: the build at %s failed its check (%s): %s; this master "
                   "keeps serving\n",
                   executable_.c_str(),
                   out.status < 0 ? "not run" : ("status " + std::to_string(out.status)).c_str(),
                   out.line.c_str());
      std::fflush(stderr);
      finished();
      return;
    }
    std::fprintf(stderr, "cluster: reload: the new build passed its check; restarting onto it\n");
    std::fflush(stderr);
    // Done when the new master serves (this one then stops), or when the restart fails.
    master_->restart();
  }

  static constexpr std::chrono::milliseconds check_limit{30000};

  master_api* master_;
  boost::asio::io_context& io_;
  options options_;
  std::string executable_;
  reload_schedule schedule_;
  std::unique_ptr<os::tree_watch> watch_;
  std::unique_ptr<os::poll_watch> poll_;
  boost::asio::posix::stream_descriptor events_;
  boost::asio::steady_timer due_;
  boost::asio::steady_timer poll_timer_;
  std::optional<os::check_child> check_;
  boost::asio::posix::stream_descriptor check_out_;
  boost::asio::steady_timer check_timer_;
  std::array<char, 4096> check_buf_{};
  std::string check_output_;
  clock::time_point check_deadline_{};
  bool open_ = false;
  bool running_ = false;
  bool rolling_ = false;
};

}  // namespace detail

CLUSTER_DECL void reload::on(events::start const& /*event*/, master_api& /*master*/) {
  for (auto const& p : paths_) {
    if (p.empty())
      throw startup_error("cluster: reload: an empty path to watch; name a file or a directory");
    std::string const parent = p.find('/') == std::string::npos ? std::string(".")
                               : p.rfind('/') == 0              ? std::string("/")
                                                                : p.substr(0, p.rfind('/'));
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 && (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)))
      throw startup_error("cluster: reload: cannot watch " + p + ": neither it nor the directory " +
                          parent + " exists");
  }
}

CLUSTER_DECL void reload::on(events::ready const& /*event*/, master_api& master) {
  if (master.state() != master_state::active) return;
  if (!state_) {
    state_ = std::make_shared<detail::reload_state>(
        master, detail::reload_state::options{paths_, extensions_, quiet_, minimum_interval_,
                                              action_ == action::restart, executable_});
  }
  state_->open();
}

CLUSTER_DECL void reload::on(events::rolling_restart_done const& /*event*/,
                             master_api& /*master*/) {
  if (state_) state_->finished();
}

CLUSTER_DECL void reload::on(events::rolling_restart_failed const& /*event*/,
                             master_api& /*master*/) {
  if (state_) state_->finished();
}

CLUSTER_DECL void reload::on(events::restarting const& /*event*/, master_api& /*master*/) {
  if (state_) state_->close();
}

CLUSTER_DECL void reload::on(events::restart_failed const& /*event*/, master_api& master) {
  if (!state_) return;
  state_->finished();
  if (master.state() == master_state::active) state_->open();
}

CLUSTER_DECL void reload::on(events::closing const& /*event*/, master_api& /*master*/) {
  if (state_) state_->close();
}

}  // namespace cluster
