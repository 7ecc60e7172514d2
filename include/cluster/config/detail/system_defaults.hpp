// SPDX-License-Identifier: BSL-1.0
// Defaults that depend on the machine, computed once at start-up: CPU count, executable folder.
#pragma once

#include <sched.h>
#include <unistd.h>

#include <climits>
#include <string>
#include <string_view>

namespace cluster::detail {

/// The CPUs this process may run on (its affinity mask, so taskset and cpusets are honoured).
inline unsigned cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int const n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  long const online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<unsigned>(online) : 1U;
}

/// The folder of the running executable, read once from /proc/self/exe and kept for the life of
/// the process (the resolved configuration holds a view of it).
inline std::string_view executable_directory() {
  static std::string const dir = [] {
    char buffer[PATH_MAX];
    ssize_t const n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
    if (n <= 0) return std::string{"/"};
    std::string path{buffer, static_cast<std::size_t>(n)};
    auto const slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? std::string{"/"} : path.substr(0, slash);
  }();
  return dir;
}

}  // namespace cluster::detail
