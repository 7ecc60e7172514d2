// SPDX-License-Identifier: BSL-1.0
// The pidfiles plugin: master.pid and worker.N.pid, kept current, handed over across a restart.
#pragma once

#include <cluster/linkage.hpp>
#include <cluster/plugin.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
/// directory is empty (`pidfiles{""}`), missing or not a directory (it is not created), a live
/// cluster master already owns `master.pid`, or the file cannot be written. A `master.pid` naming a
/// process that is gone, or one that is not a cluster master, is stale: it is replaced, with a line
/// saying so.
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
  /// What this plugin writes: its directory, where the `cli` plugin's control socket lives too.
  [[nodiscard]] std::vector<std::filesystem::path> written_paths() const { return {dir_}; }

  /// The path of the file `name` (`"master"`, `"worker.0"`): `<dir>/<name>.pid`. Once the
  /// master has started, an absolute path; before, relative to the current directory.
  [[nodiscard]] CLUSTER_DECL std::filesystem::path path_of(std::string_view file) const;

  /// The pid in the file `name` (`pidof("master")`, `pidof("worker.0")`), or 0 when the file is
  /// missing or does not hold a pid. A relative directory is read from the current directory
  /// until the master has started (a control program runs in the working directory, or reads
  /// `path_of`).
  [[nodiscard]] CLUSTER_DECL int pidof(std::string_view file) const;

  //=== the master's events ===//

  /// Checks the directory and `master.pid`, then writes `master.pid` (a restarted master defers
  /// that until its workers accept). Throws `startup_error` when it cannot.
  CLUSTER_DECL void on(events::start const& /*event*/, master_api& master);

  /// Writes `worker.N.pid` (or, in a restarted master that has not taken over yet, remembers it).
  CLUSTER_DECL void on(events::worker_spawned const& event, master_api& /*master*/);

  /// In a restarted master: takes the files over once every worker accepts.
  CLUSTER_DECL void on(events::ready const& /*event*/, master_api& master);

  /// A worker that is not replaced (a shutdown, a removal, a master giving up): its file goes,
  /// if it still names that worker. A replaced worker's file is rewritten by its successor.
  CLUSTER_DECL void on(events::worker_killed const& event, master_api& /*master*/);

  /// In a restarted master: the predecessor has exited; take over if not done yet.
  CLUSTER_DECL void on(events::restart const& /*event*/, master_api& master);

  /// Removes every file this master wrote that still holds the pid it wrote.
  CLUSTER_DECL void on(events::close const& /*event*/, master_api& /*master*/);

  /// The start was refused after this plugin started (a later plugin or a listener failed):
  /// `master.pid` goes, so that the next start finds no stale file.
  CLUSTER_DECL void on(events::start_refused const& /*event*/, master_api& master);

 private:
  /// What the process named by a `master.pid` is.
  enum class owner : unsigned char { gone, master, other };

  [[nodiscard]] CLUSTER_DECL std::filesystem::path worker_file(unsigned id) const;

  /// The rule for "a live cluster master": the process exists (and is not a zombie), and either
  /// runs the same executable file as this one (/proc/PID/exe), or shows this master's title as
  /// its command line (a new build deployed in place runs another file). When /proc tells
  /// nothing about a process that exists, it is taken for a master: two masters on one set of
  /// files is the worse mistake.
  CLUSTER_DECL static owner inspect(int pid, std::string_view title);

  /// Removes a stale master.pid's leftovers and says so; master.pid itself is overwritten next.
  CLUSTER_DECL void replace_stale(std::filesystem::path const& file, int previous,
                                  char const* why) const;

  /// A restarted master becomes the owner: master.pid, then its workers' files.
  CLUSTER_DECL void take_over(master_api const& master);

  /// True once another master has taken master.pid over (this one is being replaced): it writes
  /// no more worker files, which would overwrite its successor's.
  CLUSTER_DECL bool yielded();

  CLUSTER_DECL void write_worker(unsigned id, int pid);

  CLUSTER_DECL void remove_worker(unsigned id, int pid);

  /// Removes `file` if it still holds `pid`: another master may have written it since.
  CLUSTER_DECL static void remove_if_holds(std::filesystem::path const& file, int pid);

  /// Writes "`pid`\n" to `file` atomically; the error text, or empty on success.
  CLUSTER_DECL static std::string write_pid(std::filesystem::path const& file, int pid);

  /// The pid in `file`, or 0 when it is missing or holds anything but a pid and a newline.
  CLUSTER_DECL static int read_pid(std::filesystem::path const& file);

  /// A small file's content (a pid file, /proc/PID/cmdline); empty when it cannot be read.
  CLUSTER_DECL static std::string read_file(std::string const& path);

  CLUSTER_DECL static std::string error_text(int error);

  /// A failure after start-up is reported, not thrown: the cluster keeps serving.
  CLUSTER_DECL static void report(std::string const& what);

  std::filesystem::path dir_ = "pids";
  std::filesystem::path where_;      ///< `dir_` made absolute at start
  int self_ = 0;                     ///< this master's pid, as written to master.pid
  bool wrote_master_ = false;        ///< master.pid was written by this master
  bool taking_over_ = false;         ///< restarted, and the predecessor still owns the files
  bool yielded_ = false;             ///< a successor owns master.pid now
  std::map<unsigned, int> written_;  ///< the pid this master wrote in each worker file
};

}  // namespace cluster

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/plugins/impl/pidfiles.ipp>
#endif
