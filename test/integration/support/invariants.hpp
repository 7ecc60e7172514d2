// SPDX-License-Identifier: BSL-1.0
// What must hold of a master after any fault: exactly its workers as children, no zombie, no
// descriptor more or less than before, the same listening socket, and answers.
#pragma once

#include "harness.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <system_error>

namespace cluster::testing {

/// The children of `parent` as (pid, state letter: `Z` for a zombie nobody reaped), from /proc.
inline std::map<int, char> children_of(int parent) {
  namespace fs = std::filesystem;
  std::map<int, char> out;
  std::error_code ec;
  for (auto const& entry : fs::directory_iterator("/proc", ec)) {
    std::string const name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string const text = read_small_file((entry.path() / "stat").string());
    // "pid (comm) S ppid ...": the command may hold spaces and parentheses; the last ')' ends it.
    auto const close = text.rfind(')');
    if (close == std::string::npos || close + 4 >= text.size()) continue;
    char const state = text[close + 2];
    int const ppid = std::atoi(text.c_str() + close + 4);
    if (ppid == parent) out[std::stoi(name)] = state;
  }
  return out;
}

/// The live (neither zombie nor dead) children of `parent`.
inline std::set<int> live_children(int parent) {
  std::set<int> out;
  for (auto const& [pid, state] : children_of(parent)) {
    if (state != 'Z' && state != 'X') out.insert(pid);
  }
  return out;
}

/// What `pid` holds open, by kind (`socket`, `pipe`, `anon_inode:[eventpoll]`, `file`, ...):
/// compared before and after, a leak shows as one more of some kind.
inline std::map<std::string, int> descriptor_kinds(int pid) {
  namespace fs = std::filesystem;
  std::map<std::string, int> out;
  std::error_code ec;
  for (auto const& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code link_ec;
    std::string target = fs::read_symlink(entry.path(), link_ec).string();
    if (link_ec) continue;
    if (auto colon = target.find(":["); colon != std::string::npos && target[0] != 'a')
      target.resize(colon);  // socket:[123] -> socket
    if (target.starts_with("/")) target = "file";
    ++out[target];
  }
  return out;
}

/// Waits until `pid` (a child of the test: a master re-parented to it) has exited, and reaps it.
inline bool wait_gone(int pid, std::chrono::milliseconds limit = 20s) {
  bool const gone = wait_until([&] { return !alive(pid); }, limit);
  ::waitpid(pid, nullptr, WNOHANG);
  return gone;
}

/// The inode of the socket listening on TCP `port` (IPv4 or IPv6), or empty.
inline std::string listening_inode(int port) {
  char hex[8];
  std::snprintf(hex, sizeof hex, ":%04X", port);
  for (char const* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      if (state == "0A" && local.ends_with(hex)) return inode;
    }
  }
  return {};
}

/// What a fault must leave as it found.
struct master_snapshot {
  std::map<std::string, int> descriptors;
  std::string listener;
};

inline master_snapshot snapshot(master_process& m, int port) {
  return {descriptor_kinds(m.pid()), listening_inode(port)};
}

/// Checks, once the master has settled (waiting up to `limit`), that it has exactly `workers`
/// live children, the last ones it reported for ids 0..workers-1, no zombie, the descriptors
/// and listening socket of `before`, and that it answers on `port`.
inline void check_invariants(master_process& m, int port, unsigned workers,
                             master_snapshot const& before, std::chrono::milliseconds limit = 20s) {
  auto const expected = [&] {
    std::set<int> pids;
    for (unsigned id = 0; id < workers; ++id) pids.insert(m.worker_pid(id));
    return pids;
  };
  bool const settled = wait_until(
      [&] {
        auto const children = children_of(m.pid());
        for (auto const& [pid, state] : children) {
          if (state == 'Z') return false;
        }
        for (unsigned id = 0; id < workers; ++id) {
          std::string const line = "worker_connected id=" + std::to_string(id) +
                                   " pid=" + std::to_string(m.worker_pid(id)) + "$";
          if (m.count(line) == 0) return false;
        }
        return live_children(m.pid()) == expected() &&
               descriptor_kinds(m.pid()) == before.descriptors;
      },
      limit);
  INFO("children " << children_of(m.pid()).size() << ", expected " << workers);
  CHECK(settled);
  CHECK(live_children(m.pid()) == expected());
  CHECK(descriptor_kinds(m.pid()) == before.descriptors);
  CHECK(listening_inode(port) == before.listener);
  CHECK(http_get(port, "/").find("200 OK") != std::string::npos);
}

}  // namespace cluster::testing
