// SPDX-License-Identifier: BSL-1.0
// What the master learns of a hung worker: the stack the worker's own signal handler writes, or
// what /proc shows of it when that handler cannot run; and the memory a worker owns.
#pragma once

#include <cluster/ipc/scoreboard.hpp>
#include <cluster/linkage.hpp>

#include <signal.h>

#include <cstdint>
#include <optional>
#include <string>

namespace cluster::os {

/// The signal the master sends a hung worker's main thread to have its stack written.
///
/// The worker's handler acts only when the master set `trace_requested` in the worker's slot
/// first: a SIGUSR2 from anyone else (a user's `kill`) is ignored, never fatal.
inline constexpr int trace_signal = SIGUSR2;

/// In the master, before forking a worker: an anonymous in-memory file (memfd) the worker
/// inherits, into which its trace handler writes. -1 when the system has none (no trace then).
CLUSTER_DECL int make_trace_file() noexcept;

/// Loads the unwinder `backtrace` needs (glibc opens libgcc's on its first call), once per
/// process. The master calls it before its first fork, so that every worker inherits it loaded
/// rather than loading it again on its way to accepting: the respawn of a dead worker is shorter.
CLUSTER_DECL void load_unwinder() noexcept;

/// In a worker, at start: installs the handler of `trace_signal`, which writes this thread's
/// stack to `fd` (one frame per line, as `backtrace_symbols_fd` prints them) when `slot` says the
/// master asked, and then ends the process with SIGKILL. Async-signal-safe: the unwinder is
/// loaded here (`load_unwinder`) if the master did not, so that the handler never loads it.
CLUSTER_DECL void install_trace_handler(int fd, ipc::worker_slot* slot) noexcept;

/// Sends `trace_signal` to the main thread of `pid` (the one that runs the event loop), not to
/// whichever thread the kernel would pick.
CLUSTER_DECL bool send_trace_signal(int pid) noexcept;

/// The trace a worker wrote to `fd` (`make_trace_file`), one frame per line, with C++ names
/// demangled: `#2 slow::handle(request)+0x1d in /srv/app/server`, or `#4 /srv/app/server+0x1a2b`
/// for a function the binary does not export (`addr2line -e /srv/app/server 0x1a2b` names it).
/// The program's own frames are named after `executable`: the worker's title hides its name.
/// Empty when nothing was written.
[[nodiscard]] CLUSTER_DECL std::string read_trace(int fd, std::string const& executable);

/// What /proc shows of `pid` when it cannot write its own trace: its state, the kernel function
/// it waits in (`wchan`), its system call, and the kernel stack where readable (root only).
[[nodiscard]] CLUSTER_DECL std::string proc_report(int pid);

/// The pid of the process tracing `pid` (a debugger), or 0.
[[nodiscard]] CLUSTER_DECL int tracer_of(int pid);

/// The memory `pid` owns, in KiB: its proportional set size (`Pss` of /proc/<pid>/smaps_rollup,
/// Linux 4.14 and later), where pages shared copy-on-write with the master and the other workers
/// count a share each, never whole as in RSS. None when the kernel does not say.
[[nodiscard]] CLUSTER_DECL std::optional<std::uint64_t> owned_memory_kib(int pid);

}  // namespace cluster::os

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/os/impl/hang.ipp>
#endif
