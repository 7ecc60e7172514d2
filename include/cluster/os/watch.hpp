// SPDX-License-Identifier: BSL-1.0
// Watching files and directory trees for complete changes, with inotify (the reload plugin's
// eyes; see docs/plugins/reload.md once it lands).
#pragma once

#include <cluster/os/fd.hpp>

#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cluster::os {

/// True for the names editors and build tools give their temporary files and backups: vim's
/// swap files (`.x.swp`, `.x.swx`) and its write test (`4913`), `x~` backups, emacs' lock and
/// autosave files (`.#x`, `#x#`), `.tmp`, `.part` and JetBrains' `x___jb_tmp___`. A change to one
/// is never the change the user meant.
inline bool is_editor_artefact(std::string_view name) {
  auto const ends = [&](std::string_view tail) { return name.ends_with(tail); };
  return name.empty() || name == "4913" || ends("~") || ends(".swp") || ends(".swx") ||
         ends(".swo") || ends(".tmp") || ends(".part") || ends("___jb_tmp___") ||
         ends("___jb_old___") || name.starts_with(".#") ||
         (name.size() > 1 && name.front() == '#' && name.back() == '#');
}

/// `path` in the one spelling the watches compare: `.` and `..` resolved lexically, no trailing
/// slash (`/srv/app/./logs/` is `/srv/app/logs`).
inline std::string normal_path(std::string const& path) {
  std::string p = std::filesystem::path(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

namespace detail {

/// Calls `fn(path, name, st)` for each entry of the directory `dir` but `.` and `..`, `st` from
/// lstat(); nothing for a directory that cannot be read.
template <class Fn>
void for_each_entry(std::string const& dir, Fn&& fn) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent const* e = ::readdir(d)) {
    std::string_view const name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string const path = dir + "/" + std::string(name);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) fn(path, name, st);
  }
  ::closedir(d);
}

}  // namespace detail

/// What a watch reports, and what it leaves out.
struct watch_filter {
  /// Only files with one of these endings (".json", ".html"); empty: any file.
  std::vector<std::string> extensions;
  /// Paths never reported nor descended into: directories and files the program writes itself
  /// (its logs, pid files, sockets), whose changes would make a reload cause a reload.
  std::vector<std::string> excluded;

  /// True when `path` is excluded or under an excluded directory.
  [[nodiscard]] bool excludes(std::string_view path) const {
    for (auto const& e : excluded) {
      std::string_view x = e;
      while (x.size() > 1 && x.back() == '/') x.remove_suffix(1);
      if (path == x || (path.starts_with(x) && path.size() > x.size() && path[x.size()] == '/'))
        return true;
    }
    return false;
  }

  /// True when a change to the file `path` (whose last component is `name`) is reported.
  [[nodiscard]] bool wants(std::string_view path, std::string_view name) const {
    if (is_editor_artefact(name) || excludes(path)) return false;
    if (extensions.empty()) return true;
    for (auto const& ext : extensions)
      if (name.ends_with(ext)) return true;
    return false;
  }
};

/// Files and directory trees watched with inotify for complete changes: a file closed after
/// writing (`IN_CLOSE_WRITE`), renamed into place (`IN_MOVED_TO`, how a build or a deploy
/// replaces a file atomically) or removed. A file being written is not reported until it is
/// closed, so a half-written file never is. A directory created (or moved in) under a watched
/// tree is watched at once, and the files already in it are reported: a build tool that empties
/// and refills a folder is seen whole.
///
/// Not thread-safe; the descriptor is non-blocking and close-on-exec, for an event loop to wait
/// on (`fd()`), after which `read()` returns what happened.
class tree_watch {
 public:
  /// A watch of nothing yet. `available()` is false when the kernel has no inotify.
  explicit tree_watch(watch_filter filter = {})
      : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)), filter_(std::move(filter)) {
    for (auto& e : filter_.excluded) e = normal_path(e);
  }

  [[nodiscard]] bool available() const noexcept { return static_cast<bool>(fd_); }
  /// The descriptor to wait on (readable when `read()` has something), or -1.
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

  /// Watches the directory `path` and every directory under it, now and created later. False
  /// when it cannot (`error()` says why: the kernel is out of watches, the path is missing).
  bool add_tree(std::string const& path) { return add_directory(normal_path(path), true); }

  /// Watches the file `path`, including its replacement by a rename (a new inode with the same
  /// name): its directory is watched for that one name. The extension filter does not apply to
  /// it (an executable has no ending). False when it cannot (`error()`).
  bool add_file(std::string const& path) {
    std::string const p = normal_path(path);
    auto const slash = p.rfind('/');
    std::string const dir = slash == std::string::npos ? "."
                            : slash == 0               ? "/"
                                                       : p.substr(0, slash);
    std::string const name = slash == std::string::npos ? p : p.substr(slash + 1);
    if (!add_directory(dir, false)) return false;
    for (auto& [wd, w] : watches_) {
      if (w.path == dir) w.names.insert(name);
    }
    return true;
  }

  /// The errno of the last `add_tree` or `add_file` that failed (ENOSPC: out of watches, see
  /// /proc/sys/fs/inotify/max_user_watches).
  [[nodiscard]] int error() const noexcept { return error_; }

  /// How many directories are watched.
  [[nodiscard]] std::size_t watched() const noexcept { return watches_.size(); }

  /// The paths of the files changed since the last call, in the order seen (a path may appear
  /// more than once); never blocks. After an overflow of the kernel's queue, what changed is
  /// unknown: the watched roots are reported instead.
  std::vector<std::string> read() {
    std::vector<std::string> out;
    alignas(inotify_event) std::array<char, 16384> buf{};
    for (;;) {
      ssize_t const n = ::read(fd_.get(), buf.data(), buf.size());
      if (n <= 0) break;
      for (std::size_t at = 0; at < static_cast<std::size_t>(n);) {
        inotify_event ev{};
        std::memcpy(&ev, buf.data() + at, sizeof ev);
        // The name is padded with NULs to `len` bytes.
        char const* const text = buf.data() + at + sizeof ev;
        std::string_view const name(text, ev.len > 0 ? ::strnlen(text, ev.len) : 0);
        at += sizeof ev + ev.len;
        on_event(ev, name, out);
      }
    }
    return out;
  }

 private:
  struct watch {
    std::string path;
    bool recursive = false;
    std::set<std::string> names;  ///< a non-recursive watch reports only these names
  };

  static constexpr std::uint32_t events = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_CREATE |
                                          IN_MOVED_FROM | IN_DELETE_SELF | IN_ONLYDIR;

  bool add_directory(std::string const& dir, bool recursive,
                     std::vector<std::string>* found = nullptr) {
    if (!fd_) {
      error_ = ENOSYS;
      return false;
    }
    if (recursive && filter_.excludes(dir)) return true;
    int const wd = ::inotify_add_watch(fd_.get(), dir.c_str(), events | IN_MASK_ADD);
    if (wd < 0) {
      error_ = errno;
      return false;
    }
    watch& w = watches_[wd];
    if (w.path.empty()) w.path = dir;
    w.recursive = w.recursive || recursive;
    if (!recursive) return true;
    // Directories already there are watched too; with `found`, the files already there are
    // reported (a directory that appeared after start: its files are new).
    bool ok = true;
    detail::for_each_entry(
        dir, [&](std::string const& path, std::string_view name, struct stat const& st) {
          if (S_ISDIR(st.st_mode)) {
            ok = add_directory(path, true, found) && ok;
          } else if (found != nullptr && S_ISREG(st.st_mode) && filter_.wants(path, name)) {
            found->push_back(path);
          }
        });
    return ok;
  }

  void on_event(inotify_event const& ev, std::string_view name, std::vector<std::string>& out) {
    if ((ev.mask & IN_Q_OVERFLOW) != 0) {
      // Events were lost: report every root, and let the caller treat it as a change.
      for (auto const& [wd, w] : watches_) {
        if (!w.recursive) {
          for (auto const& n : w.names) out.push_back(w.path + "/" + n);
        } else if (!watches_have_parent(w.path)) {
          out.push_back(w.path);
        }
      }
      return;
    }
    auto const it = watches_.find(ev.wd);
    if (it == watches_.end()) return;
    if ((ev.mask & IN_IGNORED) != 0) {
      // Its directory was removed (or unmounted): a new one with the same name is watched again
      // through its parent's IN_CREATE.
      watches_.erase(it);
      return;
    }
    if (name.empty()) return;
    watch const w = it->second;
    std::string const path = w.path + "/" + std::string(name);
    bool const is_dir = (ev.mask & IN_ISDIR) != 0;
    if (is_dir) {
      if (w.recursive && (ev.mask & (IN_CREATE | IN_MOVED_TO)) != 0 && !filter_.excludes(path))
        add_directory(path, true, &out);
      return;
    }
    // A file created is reported once complete (IN_CLOSE_WRITE); a link or an empty file made
    // without writing is seen by the IN_CREATE alone, which is not reported (a file being
    // written would be, too early).
    if ((ev.mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)) == 0) return;
    // A file watched by its name is wanted whatever its ending (an executable has none).
    bool const named = w.names.contains(std::string(name));
    if (!w.recursive && !named) return;
    if (named ? filter_.excludes(path) || is_editor_artefact(name) : !filter_.wants(path, name))
      return;
    out.push_back(path);
  }

  [[nodiscard]] bool watches_have_parent(std::string const& path) const {
    for (auto const& [wd, w] : watches_) {
      if (w.recursive && path.size() > w.path.size() && path.starts_with(w.path) &&
          path[w.path.size()] == '/')
        return true;
    }
    return false;
  }

  unique_fd fd_;
  watch_filter filter_;
  std::map<int, watch> watches_;
  int error_ = 0;
};

/// The same watch by polling, where inotify is missing or the kernel is out of watches: each
/// `scan()` compares what it finds with the previous scan. A file is reported once it has
/// stopped changing (its size, time and inode the same in two scans in a row), so that a file
/// still being written is not reported half-written, as long as its writer writes at least once
/// per scan interval; a file removed is reported at once. What existed at the first scan is the
/// starting point, not a change.
class poll_watch {
 public:
  explicit poll_watch(watch_filter filter = {}) : filter_(std::move(filter)) {
    for (auto& e : filter_.excluded) e = normal_path(e);
  }

  /// Watches the directory `path` and everything under it (directories made later included).
  void add_tree(std::string const& path) { roots_.push_back({normal_path(path), true}); }
  /// Watches the file `path` (a rename over it is a change like any other).
  void add_file(std::string const& path) { roots_.push_back({normal_path(path), false}); }

  /// The files that changed since the last scan and have stopped changing, or were removed.
  std::vector<std::string> scan() {
    std::map<std::string, stamp> now;
    for (auto const& r : roots_) {
      if (r.tree) {
        walk(r.path, now);
      } else {
        look(r.path, now, true);
      }
    }
    std::vector<std::string> out;
    if (first_) {
      first_ = false;
      known_ = std::move(now);
      return out;
    }
    for (auto const& [path, st] : now) {
      auto const was = known_.find(path);
      bool const changed = was == known_.end() || was->second != st;
      if (changed) {
        settling_[path] = st;  // changed since the last scan: wait for it to stop
      } else if (auto const s = settling_.find(path); s != settling_.end()) {
        settling_.erase(s);
        out.push_back(path);
      }
    }
    for (auto const& [path, st] : known_) {
      if (!now.contains(path)) {
        settling_.erase(path);
        out.push_back(path);
      }
    }
    known_ = std::move(now);
    return out;
  }

 private:
  struct root {
    std::string path;
    bool tree = false;
  };
  struct stamp {
    std::int64_t mtime_ns = 0;
    std::int64_t size = 0;
    std::uint64_t inode = 0;
    friend bool operator==(stamp const&, stamp const&) = default;
  };

  /// Records `path`, a file; `named` (watched by its name) skips the extension filter.
  void look(std::string const& path, std::map<std::string, stamp>& into, bool named = false) const {
    auto const slash = path.rfind('/');
    std::string_view const name = slash == std::string::npos
                                      ? std::string_view(path)
                                      : std::string_view(path).substr(slash + 1);
    struct stat st {};
    bool const wanted =
        named ? !filter_.excludes(path) && !is_editor_artefact(name) : filter_.wants(path, name);
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !wanted) return;
    into[path] =
        stamp{static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
              static_cast<std::int64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino)};
  }

  void walk(std::string const& dir, std::map<std::string, stamp>& into) const {
    if (filter_.excludes(dir)) return;
    detail::for_each_entry(
        dir, [&](std::string const& path, std::string_view /*name*/, struct stat const& st) {
          if (S_ISDIR(st.st_mode)) {
            walk(path, into);
          } else {
            look(path, into);
          }
        });
  }

  watch_filter filter_;
  std::vector<root> roots_;
  std::map<std::string, stamp> known_;
  std::map<std::string, stamp> settling_;
  bool first_ = true;
};

}  // namespace cluster::os
