// SPDX-License-Identifier: BSL-1.0
// The error a user can cause at start-up: reported as one line, before anything forks.
#pragma once

#include <stdexcept>
#include <string>

namespace cluster {

/// A mistake in the environment or configuration found at start-up (port in use, unknown user).
///
/// Its `what()` is the whole line the master prints, starting with `cluster: ` and saying how to
/// fix the problem; the master exits with a non-zero status before forking any worker.
class startup_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace cluster
