// SPDX-License-Identifier: BSL-1.0
// The pidfiles plugin: master.pid and worker.N.pid, kept current, handed over across a restart.
#pragma once

#include <cluster/plugin.hpp>

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

/// Keeps one file per process in a directory: `master.pid` and `worker.N.pid` (N the worker id),
/// each holding the process's pid and a newline, so that scripts, the CLI and monitoring tools
/// find the master and each worker.
///
/// Every file is written atomically (a temporary file in the same directory, renamed over the
/// old one), so a reader sees the old pid or the new one, never a partial file. A worker's file
/// is rewritten when the worker is replaced and removed when it is removed for good
/// (`spawn(-1)`); the master removes every file it wrote when it shuts down, but only the files
/// that still hold the pid it wrote, so that files another master took over stay intact.
///
/// *Errors* (at start-up, before anything is bound or forked; see docs/plugins/pidfiles.md): the
/// directory is missing or not a directory (it is not created), a live cluster master already
/// owns `master.pid`, or the file cannot be written. A `master.pid` naming a process that is
/// gone, or one that is not a cluster master, is stale: it is replaced, with a line saying so.
///
/// *Restart:* a master started by a master restart (SIGUSR2) takes the files over from its
/// predecessor once all its workers accept; the predecessor, exiting, leaves them alone.
///
/// Example: `.use(cluster::pidfiles{})` (directory `pids`) or `.use(cluster::pidfiles{"run"})`.
class pidfiles {
 public:
  /// The plugin's name, as diagnostics and the restart state know it.
  static constexpr fixed_string name = "pidfiles";

  /// Files in `pids`, relative to the master's working directory.
  pidfiles() = default;

  /// Files in `dir`; a relative path is relative to the master's working directory (the
  /// `working directory` setting).
  explicit pidfiles(std::filesystem::path dir) : dir_(std::move(dir)) {}

  /// The directory as given.
  [[nodiscard]] std::filesystem::path const& directory() const noexcept { return dir_; }

  /// The path of the file `name` (`"master"`, `"worker.0"`): `<dir>/<name>.pid`. Once the
  /// master has started, an absolute path; before, relative to the current directory.
  [[nodiscard]] std::filesystem::path path_of(std::string_view file) const {
    return (where_.empty() ? dir_ : where_) / (std::string(file) + ".pid");
  }

  /// The pid in the file `name` (`pidof("master")`, `pidof("worker.0")`), or 0 when the file is
  /// missing or does not hold a pid. A relative directory is read from the current directory
  /// until the master has started (a control program runs in the working directory, or reads
  /// `path_of`).
  [[nodiscard]] int pidof(std::string_view file) const { return read_pid(path_of(file)); }

  //=== the master's events ===//

  /// Checks the directory and `master.pid`, then writes `master.pid` (a restarted master defers
  /// that until its workers accept). Throws `startup_error` when it cannot.
  void on(events::start const& /*event*/, master_api& master) {
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

  /// Writes `worker.N.pid` (or, in a restarted master that has not taken over yet, remembers it).
  void on(events::worker_spawned const& event, master_api& /*master*/) {
    if (taking_over_ || yielded()) return;
    write_worker(event.id, event.pid);
  }

  /// In a restarted master: takes the files over once every worker accepts.
  void on(events::ready const& /*event*/, master_api& master) {
    if (taking_over_) take_over(master);
  }

  /// A worker that is not replaced (a shutdown, a removal, a master giving up): its file goes,
  /// if it still names that worker. A replaced worker's file is rewritten by its successor.
  void on(events::worker_killed const& event, master_api& /*master*/) {
    using reason = events::exit_reason;
    if (event.reason != reason::crashed && event.reason != reason::exited &&
        event.reason != reason::killed) {
      remove_worker(event.id, event.pid);
    }
  }

  /// In a restarted master: the predecessor has exited; take over if not done yet.
  void on(events::restart const& /*event*/, master_api& master) {
    if (taking_over_) take_over(master);
  }

  /// Removes every file this master wrote that still holds the pid it wrote.
  void on(events::close const& /*event*/, master_api& /*master*/) {
    for (auto const& [id, pid] : written_) remove_if_holds(worker_file(id), pid);
    written_.clear();
    if (wrote_master_) remove_if_holds(path_of("master"), self_);
    wrote_master_ = false;
  }

 private:
  /// What the process named by a `master.pid` is.
  enum class owner : unsigned char { gone, master, other };

  [[nodiscard]] std::filesystem::path worker_file(unsigned id) const {
    return path_of("worker." + std::to_string(id));
  }

  /// The rule for "a live cluster master": the process exists (and is not a zombie), and either
  /// runs the same executable file as this one (/proc/PID/exe), or shows this master's title as
  /// its command line (a new build deployed in place runs another file). When /proc tells
  /// nothing about a process that exists, it is taken for a master: two masters on one set of
  /// files is the worse mistake.
  static owner inspect(int pid, std::string_view title) {
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

  /// Removes a stale master.pid's leftovers and says so; master.pid itself is overwritten next.
  void replace_stale(std::filesystem::path const& file, int previous, char const* why) const {
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
    std::string const also = removed == 0 ? std::string()
                                          : " and " + std::to_string(removed) + " worker file" +
                                                (removed == 1 ? "" : "s");
    std::fprintf(stderr, "cluster: pidfiles: replacing the stale %s%s (pid %d %s)\n", file.c_str(),
                 also.c_str(), previous, why);
    std::fflush(stderr);
  }

  /// A restarted master becomes the owner: master.pid, then its workers' files.
  void take_over(master_api const& master) {
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

  /// True once another master has taken master.pid over (this one is being replaced): it writes
  /// no more worker files, which would overwrite its successor's.
  bool yielded() {
    if (!yielded_ && wrote_master_) {
      int const named = read_pid(path_of("master"));
      yielded_ = named > 0 && named != self_;
    }
    return yielded_;
  }

  void write_worker(unsigned id, int pid) {
    std::filesystem::path const file = worker_file(id);
    if (std::string const why = write_pid(file, pid); !why.empty()) {
      report("cannot write " + file.string() + ": " + why);
      return;
    }
    written_[id] = pid;
  }

  void remove_worker(unsigned id, int pid) {
    if (auto it = written_.find(id); it != written_.end() && it->second == pid) written_.erase(it);
    remove_if_holds(worker_file(id), pid);
  }

  /// Removes `file` if it still holds `pid`: another master may have written it since.
  static void remove_if_holds(std::filesystem::path const& file, int pid) {
    if (read_pid(file) == pid) ::unlink(file.c_str());
  }

  /// Writes "`pid`\n" to `file` atomically; the error text, or empty on success.
  static std::string write_pid(std::filesystem::path const& file, int pid) {
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

  /// The pid in `file`, or 0 when it is missing or holds anything but a pid and a newline.
  static int read_pid(std::filesystem::path const& file) {
    std::string const text = read_file(file.string());
    int pid = 0;
    auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
    if (ec != std::errc{} || pid <= 0) return 0;
    std::string_view const rest(end, static_cast<std::size_t>(text.data() + text.size() - end));
    return rest.empty() || rest == "\n" ? pid : 0;
  }

  /// A small file's content (a pid file, /proc/PID/cmdline); empty when it cannot be read.
  static std::string read_file(std::string const& path) {
    std::string text;
    int const fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return text;
    char buf[512];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < 4096;)
      text.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return text;
  }

  static std::string error_text(int error) { return std::system_category().message(error); }

  /// A failure after start-up is reported, not thrown: the cluster keeps serving.
  static void report(std::string const& what) {
    std::fprintf(stderr, "cluster: pidfiles: %s\n", what.c_str());
    std::fflush(stderr);
  }

  std::filesystem::path dir_ = "pids";
  std::filesystem::path where_;      ///< `dir_` made absolute at start
  int self_ = 0;                     ///< this master's pid, as written to master.pid
  bool wrote_master_ = false;        ///< master.pid was written by this master
  bool taking_over_ = false;         ///< restarted, and the predecessor still owns the files
  bool yielded_ = false;             ///< a successor owns master.pid now
  std::map<unsigned, int> written_;  ///< the pid this master wrote in each worker file
};

}  // namespace cluster
