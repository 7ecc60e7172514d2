// SPDX-License-Identifier: BSL-1.0
// A master for unit tests of plugins: the contract (cluster::master_api) over fields a test sets,
// with no process, socket or event loop behind it.
#pragma once

#include <cluster/master/api.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cluster::testing {

/// What the fake master answers; operations only count their calls.
struct fake_master_state final : detail::master_ops {
  core_settings settings_{};
  os::credentials credentials_{};
  std::string environment_ = "test";
  std::vector<std::string> addresses_{"127.0.0.1:8080"};
  std::vector<worker_info> workers_{};
  std::vector<waiting_info> waiting_{};
  master_state state_ = master_state::active;
  bool restarted_ = false;
  std::vector<std::string> command_line_{"/srv/app/server"};
  int operations = 0;
  std::vector<int> kept_from_workers{};

  void spawn(int) override { ++operations; }
  void close() override { ++operations; }
  void destroy() override { ++operations; }
  void kill(int) override { ++operations; }
  int kill_worker(unsigned id, int) override {
    ++operations;
    return pid_of(id);
  }
  void restart(int) override { ++operations; }
  void restart_workers() override { ++operations; }
  void reopen_logs() override { ++operations; }
  void keep_from_workers(int fd) override { kept_from_workers.push_back(fd); }
  void release_to_workers(int fd) override { std::erase(kept_from_workers, fd); }
  [[nodiscard]] master_state state() const noexcept override { return state_; }
  [[nodiscard]] std::size_t worker_count() const noexcept override { return workers_.size(); }
  [[nodiscard]] std::vector<worker_info> workers() const override { return workers_; }
  [[nodiscard]] std::vector<waiting_info> waiting() const override { return waiting_; }
  [[nodiscard]] std::vector<int> pids() const override {
    std::vector<int> out;
    for (auto const& w : workers_) out.push_back(w.pid);
    return out;
  }
  [[nodiscard]] int pid_of(unsigned id) const noexcept override {
    for (auto const& w : workers_)
      if (w.id == id) return w.pid;
    return 0;
  }
  [[nodiscard]] std::optional<ipc::slot_snapshot> counters_of(int) const noexcept override {
    return std::nullopt;
  }
  [[nodiscard]] os::credentials const& worker_credentials() const noexcept override {
    return credentials_;
  }
  [[nodiscard]] std::string_view environment() const noexcept override { return environment_; }
  [[nodiscard]] core_settings const& settings() const noexcept override { return settings_; }
  [[nodiscard]] std::vector<std::string> addresses() const override { return addresses_; }
  [[nodiscard]] bool restarted() const noexcept override { return restarted_; }
  [[nodiscard]] std::string_view executable() const noexcept override { return "/srv/app/server"; }
  [[nodiscard]] std::vector<std::string> const& command_line() const noexcept override {
    return command_line_;
  }
  [[nodiscard]] std::string_view start_directory() const noexcept override { return "/srv/app"; }
  [[nodiscard]] std::vector<std::string> written_paths() const override { return {}; }
  void announce(events::reload const& /*event*/) override { ++operations; }
  [[nodiscard]] boost::asio::io_context& io() noexcept override { return *io_; }

  boost::asio::io_context* io_ = nullptr;  ///< none: a plugin that needs one is not for this fake
};

/// The master a plugin's hooks receive, over `fake_master_state`.
class fake_master : public master_api {
 public:
  fake_master() noexcept : master_api(&fake) {}
  fake_master(fake_master const&) = delete;
  fake_master& operator=(fake_master const&) = delete;

  fake_master_state
      fake;  ///< what it answers (constructed after the base, which only keeps its address)
};

}  // namespace cluster::testing
