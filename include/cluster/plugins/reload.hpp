// SPDX-License-Identifier: BSL-1.0
// The reload plugin: a new build, or a changed file, picked up by the running cluster with no
// failed request.
#pragma once

#include <cluster/linkage.hpp>
#include <cluster/plugin.hpp>

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cluster {

namespace detail {
class reload_state;
}  // namespace detail

/// The compile-time diagnostics of the reload plugin's options (see `setting`'s).
namespace diagnostic {
void reload_extension_must_start_with_a_dot();
void reload_period_must_not_be_negative();
}  // namespace diagnostic

/// Watches the program's executable and, optionally, files and directories it loads, and
/// reloads when they change (docs/plugins/reload.md):
///
/// - a new executable (a build renamed over it, as build tools and deploys do) restarts the
///   master onto it, once the new build has passed its configuration check (`CLUSTER_CHECK=1`):
///   the workers are forked from the master, so only a new master runs new code. A build that
///   fails its check is reported, and this master keeps serving;
/// - a changed file restarts the workers, one at a time (`on_change(reload::restart)` restarts
///   the master instead).
///
/// Only complete files count (closed after writing, or renamed into place); editor artefacts and
/// every path the cluster writes itself (log and pid file directories, sockets) are left out.
/// Changes wait for a quiet period (300 ms), changes during a reload lead to one more, and
/// reloads are at least `minimum_interval` (1 s) apart. The watch runs in the master only, from
/// the moment every worker serves, and is closed across a master restart (the new master opens
/// its own). Where inotify is missing or out of watches, the files are polled every second.
///
/// Example: `.use(cluster::reload{{"config", "templates"}}.extensions({".json", ".html"}))`.
class reload {
 public:
  static constexpr fixed_string name = "reload";

  /// What a change to a watched file (not the executable) does.
  enum class action : unsigned char {
    restart_workers,  ///< a rolling restart (the default): the workers load the file again
    restart,          ///< a master restart, as for a new executable
  };

  /// A file ending, checked at compile time: a dot and at least one character (".json").
  struct ending {
    std::string_view text;
    template <std::size_t N>
    consteval ending(char const (&s)[N])  // NOLINT(google-explicit-constructor)
        : text(s, N - 1) {
      if (N < 3 || s[0] != '.') diagnostic::reload_extension_must_start_with_a_dot();
    }
  };
  /// A duration, checked at compile time: 0 or more, in milliseconds.
  struct period {
    std::chrono::milliseconds value;
    template <class Rep, class Ratio>
    consteval period(std::chrono::duration<Rep, Ratio> d)  // NOLINT(google-explicit-constructor)
        : value(std::chrono::duration_cast<std::chrono::milliseconds>(d)) {
      if (d.count() < 0) diagnostic::reload_period_must_not_be_negative();
    }
  };

  /// Watches the executable only.
  reload() = default;
  /// Watches the executable and `paths`: files, or directories with everything under them;
  /// relative paths are relative to the working directory.
  explicit reload(std::vector<std::string> paths) : paths_(std::move(paths)) {}

  /// This plugin, reporting only files with one of these endings (".json"); none: any file.
  [[nodiscard]] reload extensions(std::initializer_list<ending> endings) const {
    reload out = *this;
    out.extensions_.clear();
    for (ending const& e : endings) out.extensions_.emplace_back(e.text);
    return out;
  }
  /// This plugin, waiting `wait` without a change before it reloads (default 300 ms).
  [[nodiscard]] reload quiet(period wait) const {
    reload out = *this;
    out.quiet_ = wait.value;
    return out;
  }
  /// This plugin, starting reloads at least `interval` apart (default 1 s).
  [[nodiscard]] reload minimum_interval(period interval) const {
    reload out = *this;
    out.minimum_interval_ = interval.value;
    return out;
  }
  /// This plugin, doing `what` when a watched file changes.
  [[nodiscard]] reload on_change(action what) const {
    reload out = *this;
    out.action_ = what;
    return out;
  }
  /// This plugin, not watching the executable (files only).
  [[nodiscard]] reload without_executable() const {
    reload out = *this;
    out.executable_ = false;
    return out;
  }

  [[nodiscard]] std::vector<std::string> const& paths() const noexcept { return paths_; }

  //=== the master's events ===//

  /// Checks that each watched path, or the directory it would be created in, exists: a one-line
  /// error before anything is bound or forked, not a watch that silently sees nothing.
  CLUSTER_DECL void on(events::start const& /*event*/, master_api& master);

  /// Every worker serves: the watch starts (once; again after a master restart that failed).
  CLUSTER_DECL void on(events::ready const& /*event*/, master_api& master);
  /// A rolling restart ended: the next reload may start.
  CLUSTER_DECL void on(events::rolling_restart_done const& /*event*/, master_api& master);
  CLUSTER_DECL void on(events::rolling_restart_failed const& /*event*/, master_api& master);
  /// A master restart begins: this master's watch is closed; the new master opens its own.
  CLUSTER_DECL void on(events::restarting const& /*event*/, master_api& master);
  /// A master restart failed: this master keeps serving, and watching.
  CLUSTER_DECL void on(events::restart_failed const& /*event*/, master_api& master);
  /// A shutdown begins: nothing is watched any more.
  CLUSTER_DECL void on(events::closing const& /*event*/, master_api& master);

 private:
  std::vector<std::string> paths_;
  std::vector<std::string> extensions_;
  std::chrono::milliseconds quiet_{300};
  std::chrono::milliseconds minimum_interval_{1000};
  action action_ = action::restart_workers;
  bool executable_ = true;
  /// Run-time state of the master's watch, created when it starts; not a setting.
  std::shared_ptr<detail::reload_state> state_;
};

}  // namespace cluster

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/plugins/impl/reload.ipp>
#endif
