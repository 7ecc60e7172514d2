// SPDX-License-Identifier: BSL-1.0
// Process titles, so that `ps` and `top` tell the master from each worker.
#pragma once

#include <sys/prctl.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace cluster::os {

namespace detail {

/// The command line as the kernel recorded it, before any title was set: `\0`-separated words.
inline std::string& original_command_line_storage() {
  static std::string saved = [] {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }();
  return saved;
}

/// The address range of this process's argv strings, from fields 48 and 49 of /proc/self/stat.
inline bool argument_area(char*& begin, char*& end) {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
  auto const close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  std::uintptr_t start = 0, stop = 0;
  for (int n = 3; n <= 49 && fields >> field; ++n) {
    if (n == 48) start = std::stoull(field);
    if (n == 49) stop = std::stoull(field);
  }
  if (start == 0 || stop <= start) return false;
  // The kernel gives argv's place as numbers (/proc/self/stat): they are addresses.
  begin = reinterpret_cast<char*>(start);  // NOLINT(performance-no-int-to-ptr)
  end = reinterpret_cast<char*>(stop);     // NOLINT(performance-no-int-to-ptr)
  return true;
}

}  // namespace detail

/// The program's original arguments, saved before the first title change overwrote them.
inline std::vector<std::string> original_arguments() {
  std::vector<std::string> out;
  std::string const& line = detail::original_command_line_storage();
  for (std::size_t pos = 0; pos < line.size();) {
    auto const nul = line.find('\0', pos);
    out.emplace_back(line.substr(pos, nul - pos));
    if (nul == std::string::npos) break;
    pos = nul + 1;
  }
  return out;
}

/// Sets the process title shown by `ps` (full) and `top` / `ps -o comm` (first 15 bytes).
///
/// `ps` reads /proc/PID/cmdline, which is the memory that held argv: the title is written there,
/// cut to the original length (growing it would mean moving the environment). The original
/// arguments are saved first (see `original_arguments`), since a restart must exec them again.
/// Views into argv strings taken before this call see the title afterwards.
inline void set_process_title(std::string_view title) {
  std::string const& original = detail::original_command_line_storage();
  std::string const name(title.substr(0, 15));
  // PR_SET_NAME is what top and `ps -o comm` show; it never fails for a valid string.
  ::prctl(PR_SET_NAME, name.c_str(), 0, 0, 0);
  char* begin = nullptr;
  char* end = nullptr;
  if (!detail::argument_area(begin, end)) return;
  std::size_t const room = static_cast<std::size_t>(end - begin);
  // The area the kernel recorded must be the one that held our own arguments. Under valgrind it
  // holds valgrind's (its options, then ours), while /proc/self/cmdline shows ours only:
  // overwriting it would corrupt the options valgrind reads again in every forked worker.
  if (room != original.size()) return;
  std::size_t const n = title.size() < room - 1 ? title.size() : room - 1;
  std::memcpy(begin, title.data(), n);
  std::memset(begin + n, 0, room - n);
}

}  // namespace cluster::os
