// SPDX-License-Identifier: BSL-1.0
// What the master hands a worker it has just forked: the only thing the two sides share at fork().
#pragma once

#include <cluster/ipc/scoreboard.hpp>
#include <cluster/os/credentials.hpp>

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace cluster::ipc {

/// What the master hands a worker it has just forked.
struct worker_setup {
  unsigned id = 0;
  pid_t master_pid = 0;
  std::vector<int> listener_fds;  ///< inherited listening sockets
  int channel_fd = -1;            ///< this worker's end of its channel to the master
  int death_fd = -1;              ///< read end of a pipe only the master writes: EOF = master gone
  os::credentials credentials;
  std::string title;
  worker_slot* slot = nullptr;   ///< this process's scoreboard slot, if it has one
  int trace_fd = -1;             ///< where its stack goes when the master finds it hung
  bool record_requests = false;  ///< record the request in flight in the slot (liveness is on)
  std::chrono::milliseconds request_deadline{0};  ///< `request deadline`; 0: none
};

/// `pattern` (the `worker title` setting) with each `{n}` replaced by the worker id.
inline std::string worker_title(std::string_view pattern, unsigned id) {
  std::string out;
  std::string const n = std::to_string(id);
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern.substr(i, 3) == "{n}") {
      out += n;
      i += 2;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

}  // namespace cluster::ipc
