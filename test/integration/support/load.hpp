// SPDX-License-Identifier: BSL-1.0
// Runs the load generator (support/load.cpp) as a child of the test and reads what it counted.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace cluster::testing {

/// The figures of a `load: ...` summary or `load: progress ...` line.
struct load_summary {
  std::uint64_t requests = 0;
  std::uint64_t ok = 0;
  std::uint64_t non200 = 0;
  std::uint64_t connect_errors = 0;
  std::uint64_t lost = 0;
  std::uint64_t fresh_failed = 0;
  std::uint64_t p50_us = 0;
  std::uint64_t p99_us = 0;
  std::uint64_t max_us = 0;
  double seconds = 0;

  /// Every request that did not get a 200.
  [[nodiscard]] std::uint64_t failures() const {
    return non200 + connect_errors + lost + fresh_failed;
  }

  /// The figures of `line`, if it is a summary (`progress` false) or progress line.
  static std::optional<load_summary> parse(std::string const& line, bool progress = false) {
    static std::regex const summary(
        R"(^load: requests=(\d+) ok=(\d+) non200=(\d+) connect_errors=(\d+) lost=(\d+) )"
        R"(fresh_failed=(\d+) p50_us=(\d+) p99_us=(\d+) max_us=(\d+) seconds=([0-9.]+)$)");
    static std::regex const progress_line(R"(^load: progress (requests=.*)$)");
    std::string text = line;
    if (progress) {
      std::smatch m;
      if (!std::regex_match(line, m, progress_line)) return std::nullopt;
      text = "load: " + m[1].str();
    }
    std::smatch m;
    if (!std::regex_match(text, m, summary)) return std::nullopt;
    auto n = [&](int i) { return std::stoull(m[i].str()); };
    return load_summary{n(1), n(2), n(3), n(4), n(5), n(6), n(7), n(8), n(9), std::stod(m[10])};
  }
};

/// The load generator running as a child of the test, its stdout captured. The destructor
/// SIGKILLs and reaps it, so a failed test leaves nothing behind.
class load_process {
 public:
  /// Starts the generator with `args` (see `cluster_load` without arguments for them).
  explicit load_process(std::vector<std::string> const& args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      // Should the test crash, the generator goes with it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(fds[1], 1);
      ::close_range(3, ~0U, 0);
      std::vector<char*> argv{const_cast<char*>(CLUSTER_LOAD)};
      for (auto const& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  load_process(load_process const&) = delete;
  load_process& operator=(load_process const&) = delete;
  ~load_process() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
  }

  [[nodiscard]] int pid() const { return pid_; }

  /// Waits for `load: running`: every connection has had one response.
  bool wait_running(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    return next_line(R"(^load: running$)", limit).has_value();
  }

  /// Asks for the figures so far (SIGUSR1), only once the generator is running.
  std::optional<load_summary> progress(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    ::kill(pid_, SIGUSR1);
    auto const line = next_line(R"(^load: progress )", limit);
    return line ? load_summary::parse(*line, true) : std::nullopt;
  }

  /// Waits until at least `n` requests have been answered with 200, asking every 20 ms.
  std::optional<load_summary> wait_ok(std::uint64_t n, std::chrono::milliseconds limit) {
    auto const until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto const p = progress();
      if (!p || p->ok >= n || std::chrono::steady_clock::now() >= until) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  /// Stops the generator (SIGINT), which finishes its requests in flight; its summary.
  std::optional<load_summary> stop(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    ::kill(pid_, SIGINT);
    return finish(limit);
  }

  /// Waits for the summary line and the exit (after --max-requests or --max-seconds).
  std::optional<load_summary> finish(std::chrono::milliseconds limit) {
    auto const line = next_line(R"(^load: requests=)", limit);
    auto const until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!reaped_ && std::chrono::steady_clock::now() < until) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        reaped_ = true;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    return line ? load_summary::parse(*line) : std::nullopt;
  }

  /// The exit status once `finish` or `stop` has reaped it (code, or 128 + signal).
  [[nodiscard]] std::optional<int> exit_status() const {
    return reaped_ ? std::optional<int>(status_) : std::nullopt;
  }

  /// Every stdout line so far.
  [[nodiscard]] std::vector<std::string> const& lines() const { return lines_; }

 private:
  /// The next unread line matching `pattern`, skipping others; nothing on timeout or exit.
  std::optional<std::string> next_line(std::string const& pattern,
                                       std::chrono::milliseconds limit) {
    std::regex const re(pattern);
    auto const until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      while (read_ < lines_.size()) {
        std::string const& l = lines_[read_++];
        if (std::regex_search(l, re)) return l;
      }
      auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[4096];
      ssize_t const n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;  // it exited
      partial_.append(buf, static_cast<std::size_t>(n));
      for (std::size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
        lines_.push_back(partial_.substr(0, nl));
        partial_.erase(0, nl + 1);
      }
    }
  }

  int pid_ = -1;
  int out_ = -1;
  bool reaped_ = false;
  int status_ = -1;
  std::size_t read_ = 0;
  std::string partial_;
  std::vector<std::string> lines_;
};

}  // namespace cluster::testing
