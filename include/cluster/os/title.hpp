// SPDX-License-Identifier: BSL-1.0
// Process titles, so that `ps` and `top` tell the master from each worker.
#pragma once

#include <sys/prctl.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
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

/// Where the kernel recorded this process's argv and environment strings: fields 48 to 51 of
/// /proc/self/stat (arg_start, arg_end, env_start, env_end).
struct string_areas {
  char* arg_begin = nullptr;
  char* arg_end = nullptr;
  char* env_begin = nullptr;
  char* env_end = nullptr;
};

inline bool read_string_areas(string_areas& out) {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
  auto const close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  std::uintptr_t at[4] = {};
  for (int n = 3; n <= 51 && fields >> field; ++n) {
    if (n >= 48) at[n - 48] = std::stoull(field);
  }
  if (at[0] == 0 || at[1] <= at[0]) return false;
  // The kernel gives these places as numbers: they are addresses in this process.
  out.arg_begin = reinterpret_cast<char*>(at[0]);  // NOLINT(performance-no-int-to-ptr)
  out.arg_end = reinterpret_cast<char*>(at[1]);    // NOLINT(performance-no-int-to-ptr)
  out.env_begin = reinterpret_cast<char*>(at[2]);  // NOLINT(performance-no-int-to-ptr)
  out.env_end = reinterpret_cast<char*>(at[3]);    // NOLINT(performance-no-int-to-ptr)
  return true;
}

/// The area a title may use: argv's, and the environment's right after it once
/// `move_environment` has copied the variables elsewhere.
struct title_area {
  char* begin = nullptr;
  std::size_t argv_room = 0;  ///< the bytes that held the arguments
  std::size_t room = 0;       ///< argv_room, plus the environment's bytes when free to use
};

inline title_area& title_area_storage() {
  static title_area area;
  return area;
}

/// Copies the environment strings out of the area that follows argv, so that a title longer than
/// the original command line can use it (as nginx and PostgreSQL do): `environ` then points at
/// the copies, which live as long as the process. Done once, before `main` (see
/// `environment_moved`), so that pointers `getenv` returns in `main` are the copies and stay
/// valid when a title is written. Nothing is moved unless the area the kernel recorded is the one
/// that holds this program's own arguments and every variable lies in the area after them (not
/// so under valgrind, which lays out the program's arguments itself): the title then stays
/// within argv.
inline bool move_environment() noexcept {
  try {
    std::string const& original = original_command_line_storage();
    string_areas a;
    title_area& area = title_area_storage();
    if (!read_string_areas(a)) return false;
    std::size_t const argv_room = static_cast<std::size_t>(a.arg_end - a.arg_begin);
    if (argv_room != original.size() ||
        std::memcmp(a.arg_begin, original.data(), original.size()) != 0) {
      return false;
    }
    area = {a.arg_begin, argv_room, argv_room};
    // The kernel shows a title that runs past argv only when the environment follows it at once.
    if (a.env_begin != a.arg_end || a.env_end <= a.env_begin) return false;
    std::size_t count = 0;
    for (char** e = environ; *e != nullptr; ++e, ++count) {
      if (*e < a.env_begin || *e >= a.env_end) return false;
    }
    std::size_t const bytes = static_cast<std::size_t>(a.env_end - a.env_begin);
    // Never freed: `environ` points into these for the life of the process.
    static std::unique_ptr<char[]> strings;
    static std::unique_ptr<char*[]> pointers;
    strings = std::make_unique<char[]>(bytes);
    pointers = std::make_unique<char*[]>(count + 1);
    std::memcpy(strings.get(), a.env_begin, bytes);
    for (std::size_t i = 0; i < count; ++i)
      pointers[i] = strings.get() + (environ[i] - a.env_begin);
    pointers[count] = nullptr;
    environ = pointers.get();
    area.room = argv_room + bytes;
    return true;
  } catch (...) {
    return false;
  }
}

/// Moves the environment once, at start-up, before `main` reads it.
inline bool const environment_moved = move_environment();

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
/// `ps` reads /proc/PID/cmdline, which is the memory that held argv and, right after it, the
/// environment strings. A title that fits is written in argv's bytes; a longer one runs on into
/// the environment's, whose variables were copied elsewhere before `main` (see
/// `detail::move_environment`), and the kernel shows it whole as long as it overwrites argv's last
/// byte. The original arguments are saved first (see `original_arguments`), since a restart must
/// exec them again. Views into argv strings taken before this call see the title afterwards, and
/// so do views into the environment taken by code that ran before `main` (/proc/PID/environ shows
/// the title too).
inline void set_process_title(std::string_view title) {
  std::string const name(title.substr(0, 15));
  // PR_SET_NAME is what top and `ps -o comm` show; it never fails for a valid string.
  ::prctl(PR_SET_NAME, name.c_str(), 0, 0, 0);
  detail::title_area const& area = detail::title_area_storage();
  if (area.begin == nullptr || area.argv_room == 0) return;
  // Past argv only when the title needs it: a shorter one leaves the environment's bytes alone.
  std::size_t const room = title.size() < area.argv_room ? area.argv_room : area.room;
  std::size_t const n = title.size() < room - 1 ? title.size() : room - 1;
  std::memcpy(area.begin, title.data(), n);
  std::memset(area.begin + n, 0, room - n);
}

}  // namespace cluster::os
