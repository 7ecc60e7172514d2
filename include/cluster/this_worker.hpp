// SPDX-License-Identifier: BSL-1.0
// What a plugin sees of the worker process it runs in: events delivered there get this object.
#pragma once

#include <cluster/ipc/scoreboard.hpp>

#include <string_view>

namespace cluster {

/// The worker process a plugin's copy runs in, given to `on(event, this_worker&)` for the events
/// delivered inside workers (`worker_start`, `client_request`, ...; see events.hpp).
///
/// Example: a plugin counting requests in the worker's scoreboard slot, which the master reads:
/// ```
/// void on(cluster::events::client_request const&, cluster::this_worker& w) {
///   if (auto* slot = w.slot()) cluster::ipc::increment(slot->requests);
/// }
/// ```
class this_worker {
 public:
  this_worker(unsigned id, int pid, std::string_view environment, ipc::worker_slot* slot) noexcept
      : id_(id), pid_(pid), environment_(environment), slot_(slot) {}

  /// The worker id, 0..N-1 (`CLUSTER_WORKER`).
  [[nodiscard]] unsigned id() const noexcept { return id_; }
  /// This process's pid.
  [[nodiscard]] int pid() const noexcept { return pid_; }
  /// The environment the configuration was resolved for.
  [[nodiscard]] std::string_view environment() const noexcept { return environment_; }
  /// This process's scoreboard slot, shared with the master; null when it has none (more
  /// workers than slots). Single writer: the worker's own event loop.
  [[nodiscard]] ipc::worker_slot* slot() const noexcept { return slot_; }

 private:
  unsigned id_;
  int pid_;
  std::string_view environment_;
  ipc::worker_slot* slot_;
};

}  // namespace cluster
