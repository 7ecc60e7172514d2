// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/os/hang.hpp>: inline in each program (header-only), or compiled once into
// cluster::compiled (see <cluster/src.hpp>).
#pragma once

#include <cluster/os/hang.hpp>

#include <cxxabi.h>
#include <execinfo.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string_view>

namespace cluster::os {

namespace detail {

inline int trace_fd = -1;
inline ipc::worker_slot* trace_slot = nullptr;
inline bool unwinder_loaded = false;  ///< see `load_unwinder`; a forked worker inherits it

/// Frames written at most: enough for any event loop's handler, small enough for a stack array.
inline constexpr int trace_depth = 64;

inline void on_trace_signal(int /*signal*/) {
  if (trace_fd < 0 || trace_slot == nullptr ||
      trace_slot->trace_requested.load(std::memory_order_relaxed) == 0)
    return;
  void* frames[trace_depth];
  int const n = ::backtrace(frames, trace_depth);
  // Frame 0 is this handler and frame 1 the kernel's signal trampoline: the stack of the code the
  // signal interrupted starts after them.
  int const skip = n > 2 ? 2 : 0;
  ::backtrace_symbols_fd(frames + skip, n - skip, trace_fd);
  // The stack is all the master wants of a hung worker: end at once rather than after the
  // master's grace period.
  ::kill(::getpid(), SIGKILL);
}

/// `text` with the mangled C++ name it holds (`_ZN4slow6handleEv`) replaced by its readable one.
inline std::string demangled(std::string const& name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> readable(
      abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status), &std::free);
  return status == 0 && readable ? std::string(readable.get()) : name;
}

/// Frames longer than this are cut: a template-heavy name (Asio's handlers) runs to kilobytes.
inline constexpr std::size_t frame_width = 300;

/// One line of `backtrace_symbols_fd` (`./server(_ZN4slow6handleEv+0x1d) [0x55d0c1a2b3c4]`,
/// `./server(+0x1a2b) [0x...]`, `[0x...]`) as `slow::handle()+0x1d in ./server`, or
/// `./server+0x1a2b` (an offset `addr2line -e ./server` reads). glibc names the program's own
/// object after its argv[0], which the worker's title has overwritten: any object that is not a
/// shared library's absolute path is the program, `executable`.
inline std::string readable_frame(std::string_view line, std::string const& executable) {
  auto const open = line.find('(');
  auto const close = line.find(')', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) return std::string(line);
  std::string_view object = line.substr(0, open);
  if (!object.starts_with('/') && !executable.empty()) object = executable;
  std::string_view const inside = line.substr(open + 1, close - open - 1);
  auto const plus = inside.rfind('+');
  std::string_view const symbol = inside.substr(0, plus);
  std::string_view const offset = plus == std::string_view::npos ? "" : inside.substr(plus);
  if (symbol.empty()) return std::string(object) + std::string(offset);
  return demangled(std::string(symbol)) + std::string(offset) + " in " + std::string(object);
}

/// The whole of a small file such as /proc/PID/stat; empty if it cannot be read (a process that
/// has just ended, a file only root may read).
inline std::string read_file(char const* path) {
  std::string text;
  int const fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return text;
}

inline std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\0'))
    text.pop_back();
  return text;
}

}  // namespace detail

CLUSTER_DECL int make_trace_file() noexcept { return ::memfd_create("cluster-trace", MFD_CLOEXEC); }

CLUSTER_DECL void load_unwinder() noexcept {
  if (detail::unwinder_loaded) return;
  void* frame[1];
  ::backtrace(frame, 1);
  detail::unwinder_loaded = true;
}

CLUSTER_DECL void install_trace_handler(int fd, ipc::worker_slot* slot) noexcept {
  if (fd < 0 || slot == nullptr) return;
  detail::trace_fd = fd;
  detail::trace_slot = slot;
  // The first backtrace() loads libgcc's unwinder (dlopen, malloc): never in the handler.
  load_unwinder();
  struct sigaction sa {};
  sa.sa_handler = &detail::on_trace_signal;
  ::sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(trace_signal, &sa, nullptr);
}

CLUSTER_DECL bool send_trace_signal(int pid) noexcept {
  return ::syscall(SYS_tgkill, pid, pid, trace_signal) == 0;
}

CLUSTER_DECL std::string read_trace(int fd, std::string const& executable) {
  if (fd < 0) return {};
  // Bounded: 64 frames of a few hundred bytes each at most.
  std::string raw(std::size_t{64} * 1024, '\0');
  ssize_t const n = ::pread(fd, raw.data(), raw.size(), 0);
  if (n <= 0) return {};
  raw.resize(static_cast<std::size_t>(n));
  std::string out;
  std::string_view rest = raw;
  for (int i = 0; !rest.empty(); ++i) {
    auto const end = std::min(rest.find('\n'), rest.size());
    std::string_view const line = rest.substr(0, end);
    rest.remove_prefix(std::min(end + 1, rest.size()));
    if (line.empty()) continue;
    if (!out.empty()) out += '\n';
    std::string frame = detail::readable_frame(line, executable);
    if (frame.size() > detail::frame_width)
      frame.replace(detail::frame_width - 3, frame.npos, "...");
    out += '#' + std::to_string(i) + ' ' + frame;
  }
  return out;
}

CLUSTER_DECL std::string proc_report(int pid) {
  std::string const dir = "/proc/" + std::to_string(pid) + "/";
  std::string out;
  auto const add = [&](std::string_view label, std::string value) {
    value = detail::trimmed(std::move(value));
    if (value.empty()) return;
    if (!out.empty()) out += '\n';
    out.append(label).append(": ").append(value);
  };
  std::string const stat = detail::read_file((dir + "stat").c_str());
  if (auto const end = stat.rfind(')'); end != std::string::npos && end + 2 < stat.size()) {
    char const state = stat[end + 2];
    std::string_view word;
    switch (state) {
      case 'R':
        word = "running";
        break;
      case 'S':
        word = "sleeping";
        break;
      case 'D':
        word = "in uninterruptible sleep (usually I/O)";
        break;
      case 'T':
        word = "stopped";
        break;
      case 't':
        word = "stopped by a debugger";
        break;
      case 'Z':
        word = "zombie";
        break;
      default:
        word = "?";
        break;
    }
    add("state", std::string(1, state) + " (" + std::string(word) + ")");
  }
  add("wchan", detail::read_file((dir + "wchan").c_str()));
  add("syscall", detail::read_file((dir + "syscall").c_str()));
  std::string const stack = detail::trimmed(detail::read_file((dir + "stack").c_str()));
  if (!stack.empty()) out.append(out.empty() ? "" : "\n").append("kernel stack:\n").append(stack);
  return out;
}

CLUSTER_DECL int tracer_of(int pid) {
  std::string const status =
      detail::read_file(("/proc/" + std::to_string(pid) + "/status").c_str());
  auto const at = status.find("TracerPid:");
  if (at == std::string::npos) return 0;
  return std::atoi(status.c_str() + at + 10);
}

CLUSTER_DECL std::optional<std::uint64_t> owned_memory_kib(int pid) {
  std::string const rollup =
      detail::read_file(("/proc/" + std::to_string(pid) + "/smaps_rollup").c_str());
  auto const at = rollup.find("\nPss:");
  if (at == std::string::npos) return std::nullopt;
  return std::strtoull(rollup.c_str() + at + 5, nullptr, 10);
}

}  // namespace cluster::os
