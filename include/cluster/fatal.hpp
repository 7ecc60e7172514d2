// SPDX-License-Identifier: BSL-1.0
// How a worker says that restarting it cannot help: the master then stops instead of replacing it.
#pragma once

#include <stdexcept>
#include <string>

namespace cluster {

/// The exit status of a worker whose error restarting cannot fix (sysexits' EX_CONFIG): the
/// master stops gracefully with this status instead of replacing it, and the unit it prints tells
/// systemd not to restart the service for it (`RestartPreventExitStatus=`).
inline constexpr int fatal_exit_code = 78;

/// Thrown by a server (its constructor, a handler, a job) for an error restarting cannot fix: a
/// missing configuration key, a certificate that does not parse. The worker reports `what()` to
/// the master and exits with `fatal_exit_code`; the master says why and stops gracefully: the
/// other workers finish their requests.
///
/// Example: `if (!std::getenv("DATABASE_URL")) throw cluster::fatal_error("DATABASE_URL unset");`
class fatal_error : public std::runtime_error {
 public:
  explicit fatal_error(std::string const& what) : std::runtime_error(what) {}
  explicit fatal_error(char const* what) : std::runtime_error(what) {}
};

}  // namespace cluster
