// SPDX-License-Identifier: BSL-1.0
// The resolved values of the built-in settings and listeners: plain, trivially copyable data.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace cluster {

/// A user or group as given to `set<"user">` / `set<"group">`: a name, a numeric id, or neither.
struct identity {
  std::string_view name{};  ///< non-empty when given by name
  long id = -1;             ///< >= 0 when given by number

  /// True when the setting was given (by name or by number).
  [[nodiscard]] constexpr bool given() const noexcept { return !name.empty() || id >= 0; }
  friend constexpr bool operator==(identity const&, identity const&) = default;
};

/// One place to listen on: a TCP host and port, or a unix socket path.
struct endpoint {
  enum class kind : std::uint8_t { tcp, unix_socket };
  kind type = kind::tcp;
  std::uint16_t port = 0;      ///< TCP only; 0 lets the kernel choose
  std::string_view address{};  ///< TCP: host (empty means every interface); unix: the path

  friend constexpr bool operator==(endpoint const&, endpoint const&) = default;
};

/// Every built-in setting, resolved for one environment at start-up.
///
/// Text values are views: they point at string literals or at strings owned by the builder
/// (`cluster::runtime(...)`) or by the resolved configuration, all of which outlive the master.
struct core_settings {
  unsigned workers = 1;
  std::string_view working_directory{};
  int backlog = 128;
  std::chrono::milliseconds timeout{60000};
  std::string_view title = "cluster master";
  std::string_view worker_title = "cluster worker {n}";
  identity user{};
  identity group{};
  std::chrono::milliseconds restart_threshold{60000};
  std::chrono::milliseconds restart_timeout{60000};
  std::string_view socket_path{};
  std::chrono::milliseconds liveness_timeout{30000};  ///< 0: off
  std::chrono::milliseconds boot_timeout{60000};      ///< 0: off
  std::chrono::milliseconds request_deadline{0};      ///< per HTTP request; 0: off
  unsigned max_requests = 0;                          ///< recycle after; 0: off
  std::chrono::milliseconds max_age{0};               ///< recycle after; 0: off
  unsigned max_memory = 0;                            ///< MiB of PSS; recycle above; 0: off
  unsigned recycle_at_once = 1;                       ///< recycles under way at most

  /// True when some trigger recycles workers.
  [[nodiscard]] constexpr bool recycles() const noexcept {
    return max_requests > 0 || max_age.count() > 0 || max_memory > 0;
  }
};

}  // namespace cluster
