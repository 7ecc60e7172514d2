// SPDX-License-Identifier: BSL-1.0
// The worker's stop flag: what its SIGQUIT handler sets, and what servers and jobs read.
#pragma once

#include <csignal>

namespace cluster::detail {

/// Set by the worker's SIGQUIT handler: the master asked for a graceful stop. Read through
/// `cluster::stopping()` and `worker_context::stopping()`.
inline volatile std::sig_atomic_t stop_requested = 0;

}  // namespace cluster::detail
