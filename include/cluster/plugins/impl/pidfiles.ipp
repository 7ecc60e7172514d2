// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/plugins/pidfiles.hpp>: inline in each program (header-only), or
// compiled once into cluster::compiled (see <cluster/src.hpp>). Nothing here is per
// configuration or per request.
#pragma once

#include <cluster/plugins/pidfiles.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace cluster {

CLUSTER_DECL std::filesystem::path pidfiles::path_of(std::string_view file) const {
  return (where_.empty() ? dir_ : where_) / (std::string(file) + ".pid");
}

CLUSTER_DECL int pidfiles::pidof(std::string_view file) const { return read_pid(path_of(file)); }

CLUSTER_DECL void pidfiles::on(events::start const& /*event*/, master_api& master) {
  // First: an empty path has no absolute form, and the messages below would name no directory.
  if (dir_.empty()) {
    throw startup_error(
        "cluster: pidfiles: the pid directory is empty; pass one, e.g. "
        "cluster::pidfiles{\"pids\"}");
  }
  std::error_code ec;
  where_ = std::filesystem::absolute(dir_, ec);
  if (ec) where_ = dir_;
  struct stat st {};
  if (::stat(where_.c_str(), &st) != 0) {
    throw startup_error("cluster: pidfiles: the directory " + where_.string() + " " +
                        (errno == ENOENT ? std::string("does not exist")
                                         : "cannot be read (" + error_text(errno) + ")") +
                        "; create it, or give cluster::pidfiles(\"dir\") another one");
  }
  if (!S_ISDIR(st.st_mode)) {
    throw startup_error("cluster: pidfiles: " + where_.string() +
                        " is not a directory; give cluster::pidfiles(\"dir\") a directory");
  }
  self_ = static_cast<int>(::getpid());
  if (master.restarted()) {
    // The predecessor still runs and owns the files until this master serves: it is not a
    // conflict, and a restart that fails must leave its files as they were.
    taking_over_ = true;
    return;
  }
  std::filesystem::path const file = path_of("master");
  int const previous = read_pid(file);
  if (previous > 0 && previous != self_) {
    switch (inspect(previous, master.settings().title)) {
      case owner::master:
        throw startup_error("cluster: pidfiles: another master (pid " + std::to_string(previous) +
                            ") is running and owns " + file.string() +
                            "; stop it first, or give this one another directory with "
                            "cluster::pidfiles(\"dir\")");
      case owner::gone:
        replace_stale(file, previous, "is not running");
        break;
      case owner::other:
        replace_stale(file, previous, "is not a cluster master");
        break;
    }
  }
  if (std::string const why = write_pid(file, self_); !why.empty()) {
    throw startup_error("cluster: pidfiles: cannot write " + file.string() + ": " + why +
                        "; make the directory writable by the master's user");
  }
  wrote_master_ = true;
}

CLUSTER_DECL void pidfiles::on(events::worker_spawned const& event, master_api& /*master*/) {
  if (taking_over_ || yielded()) return;
  write_worker(event.id, event.pid);
}

CLUSTER_DECL void pidfiles::on(events::ready const& /*event*/, master_api& master) {
  if (taking_over_) take_over(master);
}

CLUSTER_DECL void pidfiles::on(events::worker_killed const& event, master_api& /*master*/) {
  using reason = events::exit_reason;
  // A worker that is replaced keeps its file: the replacement writes its own pid into it.
  if (event.reason != reason::crashed && event.reason != reason::exited &&
      event.reason != reason::killed && event.reason != reason::hung &&
      event.reason != reason::boot_timeout) {
    remove_worker(event.id, event.pid);
  }
}

CLUSTER_DECL void pidfiles::on(events::restart const& /*event*/, master_api& master) {
  if (taking_over_) take_over(master);
}

CLUSTER_DECL void pidfiles::on(events::close const& /*event*/, master_api& /*master*/) {
  for (auto const& [id, pid] : written_) remove_if_holds(worker_file(id), pid);
  written_.clear();
  if (wrote_master_) remove_if_holds(path_of("master"), self_);
  wrote_master_ = false;
}

CLUSTER_DECL void pidfiles::on(events::start_refused const& /*event*/, master_api& master) {
  on(events::close{}, master);
}

CLUSTER_DECL std::filesystem::path pidfiles::worker_file(unsigned id) const {
  return path_of("worker." + std::to_string(id));
}

CLUSTER_DECL pidfiles::owner pidfiles::inspect(int pid, std::string_view title) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return owner::gone;
  std::string const proc = "/proc/" + std::to_string(pid);
  std::string const stat_line = read_file(proc + "/stat");
  if (auto const close = stat_line.rfind(')');
      close != std::string::npos && close + 2 < stat_line.size() &&
      (stat_line[close + 2] == 'Z' || stat_line[close + 2] == 'X')) {
    return owner::gone;
  }
  bool known = false;
  struct stat theirs {};
  struct stat ours {};
  if (::stat((proc + "/exe").c_str(), &theirs) == 0 && ::stat("/proc/self/exe", &ours) == 0) {
    known = true;
    if (theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino) return owner::master;
  }
  std::string const cmdline = read_file(proc + "/cmdline");
  if (!cmdline.empty()) {
    known = true;
    std::string_view const first(cmdline.c_str());
    if (first == title) return owner::master;
    // A title longer than the original command line is cut to fit it, filling it whole.
    if (!first.empty() && first.size() + 1 == cmdline.size() && title.starts_with(first))
      return owner::master;
  }
  return known ? owner::other : owner::master;
}

CLUSTER_DECL void pidfiles::replace_stale(std::filesystem::path const& file, int previous,
                                          char const* why) const {
  // Its workers died with it (workers follow their master): their files name nobody now.
  std::size_t removed = 0;
  std::error_code ec;
  for (auto const& entry : std::filesystem::directory_iterator(where_, ec)) {
    std::string const n = entry.path().filename().string();
    if (!n.starts_with("worker.") || !n.ends_with(".pid")) continue;
    int const pid = read_pid(entry.path());
    if (pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH)) continue;
    if (::unlink(entry.path().c_str()) == 0) ++removed;
  }
  std::string const also =
      removed == 0 ? std::string()
                   : " and " + std::to_string(removed) + " worker file" + (removed == 1 ? "" : "s");
  std::fprintf(stderr, "cluster: pidfiles: replacing the stale %s%s (pid %d %s)\n", file.c_str(),
               also.c_str(), previous, why);
  std::fflush(stderr);
}

CLUSTER_DECL void pidfiles::take_over(master_api const& master) {
  taking_over_ = false;
  std::filesystem::path const file = path_of("master");
  if (std::string const why = write_pid(file, self_); !why.empty()) {
    report("cannot write " + file.string() + ": " + why);
  } else {
    wrote_master_ = true;
  }
  for (auto const& w : master.workers()) {
    if (w.state != worker_state::stopping) write_worker(w.id, w.pid);
  }
}

CLUSTER_DECL bool pidfiles::yielded() {
  if (!yielded_ && wrote_master_) {
    int const named = read_pid(path_of("master"));
    yielded_ = named > 0 && named != self_;
  }
  return yielded_;
}

CLUSTER_DECL void pidfiles::write_worker(unsigned id, int pid) {
  std::filesystem::path const file = worker_file(id);
  if (std::string const why = write_pid(file, pid); !why.empty()) {
    report("cannot write " + file.string() + ": " + why);
    return;
  }
  written_[id] = pid;
}

CLUSTER_DECL void pidfiles::remove_worker(unsigned id, int pid) {
  if (auto it = written_.find(id); it != written_.end() && it->second == pid) written_.erase(it);
  remove_if_holds(worker_file(id), pid);
}

CLUSTER_DECL void pidfiles::remove_if_holds(std::filesystem::path const& file, int pid) {
  if (read_pid(file) == pid) ::unlink(file.c_str());
}

CLUSTER_DECL std::string pidfiles::write_pid(std::filesystem::path const& file, int pid) {
  // A reader must never see an empty or half-written file: write a temporary file in the same
  // directory (rename is atomic only within one file system), then rename it over `file`.
  // Durability across a power cut is not needed for pids, so there is no fsync.
  std::filesystem::path tmp = file;
  tmp += "." + std::to_string(::getpid()) + ".tmp";
  int const fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return error_text(errno);
  std::string const text = std::to_string(pid) + "\n";
  ssize_t const n = ::write(fd, text.data(), text.size());
  int const write_errno = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    ::unlink(tmp.c_str());
    return n < 0 ? error_text(write_errno) : std::string("short write");
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    int const rename_errno = errno;
    ::unlink(tmp.c_str());
    return error_text(rename_errno);
  }
  return {};
}

CLUSTER_DECL int pidfiles::read_pid(std::filesystem::path const& file) {
  std::string const text = read_file(file.string());
  int pid = 0;
  auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (ec != std::errc{} || pid <= 0) return 0;
  std::string_view const rest(end, static_cast<std::size_t>(text.data() + text.size() - end));
  return rest.empty() || rest == "\n" ? pid : 0;
}

CLUSTER_DECL std::string pidfiles::read_file(std::string const& path) {
  std::string text;
  int const fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buf[512];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < 4096;)
    text.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return text;
}

CLUSTER_DECL std::string pidfiles::error_text(int error) {
  return std::system_category().message(error);
}

CLUSTER_DECL void pidfiles::report(std::string const& what) {
  std::fprintf(stderr, "cluster: pidfiles: %s\n", what.c_str());
  std::fflush(stderr);
}

}  // namespace cluster
