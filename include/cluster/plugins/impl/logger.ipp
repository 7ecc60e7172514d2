// SPDX-License-Identifier: BSL-1.0
// Definitions of <cluster/plugins/logger.hpp>'s cold part (the master's events, opening and
// reopening the files): inline in each program (header-only), or compiled once into
// cluster::compiled (see <cluster/src.hpp>). The access line of each request stays in the header.
#pragma once

#include <cluster/plugins/logger.hpp>
#include <cluster/plugins/wording.hpp>
#include <cluster/text.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace cluster {

CLUSTER_DECL void logger::on(events::start const&, master_api& master) {
  auto const& who = master.worker_credentials();
  state_ = open_all(dir_, who.change, who.uid, who.gid);
  log(log_level::info, text::format("master {} starting ({} workers, environment {})", ::getpid(),
                                    master.settings().workers, master.environment()));
}

CLUSTER_DECL void logger::on(events::reopen const&, master_api& master) {
  if (!state_) return;
  auto const& who = master.worker_credentials();
  auto& s = *state_;
  std::string problems;
  reopen_onto(s.master_path, s.master_fd, false, 0, 0, problems);
  reopen_onto(s.access_path, s.access_fd, who.change, who.uid, who.gid, problems);
  reopen_onto(s.error_path, s.error_fd, who.change, who.uid, who.gid, problems);
  if (problems.empty()) {
    log(log_level::info, "log files reopened");
  } else {
    log(log_level::error, "reopening log files: " + problems + "; the old files stay in use");
  }
}

CLUSTER_DECL void logger::on(events::listening const&, master_api& master) {
  std::string where;
  for (auto const& a : master.addresses()) where += (where.empty() ? "" : ", ") + a;
  log(log_level::info, "listening on " + (where.empty() ? std::string("nothing") : where));
}

CLUSTER_DECL void logger::on(events::worker_spawned const& e, master_api&) {
  log(log_level::info, text::format("worker {} spawned (pid {})", e.id, e.pid));
}

CLUSTER_DECL void logger::on(events::worker_connected const& e, master_api&) {
  log(log_level::info, text::format("worker {} connected (pid {})", e.id, e.pid));
}

CLUSTER_DECL void logger::on(events::worker_killed const& e, master_api&) { log(wording::of(e)); }

CLUSTER_DECL void logger::on(events::worker_exception const& e, master_api&) {
  if (!state_) return;
  std::string const text =
      text::format("worker {} (pid {}) exception: {}", e.id, e.pid, one_line(e.what));
  log(log_level::error, text);
  std::string line = iso_timestamp();
  line += " error ";
  line += text;
  line += '\n';
  write_all(state_->error_fd, line.data(), line.size());
}

CLUSTER_DECL void logger::on(events::worker_removed const& e, master_api&) {
  log(log_level::info, text::format("worker {} (pid {}) removed", e.id, e.pid));
}

CLUSTER_DECL void logger::on(events::worker_timeout const& e, master_api&) { log(wording::of(e)); }

CLUSTER_DECL void logger::on(events::worker_hung const& e, master_api&) {
  worded const head = wording::of(e);
  log(head);
  wording::for_each_trace_line(e, [&](std::string const& line) { log(head.level, line); });
}

CLUSTER_DECL void logger::on(events::worker_backoff const& e, master_api&) { log(wording::of(e)); }

CLUSTER_DECL void logger::on(events::worker_waiting const& e, master_api&) {
  log(log_level::debug, text::format("worker {} (pid {}) stopping, waiting for {} connections",
                                     e.id, e.pid, e.connections));
}

CLUSTER_DECL void logger::on(events::closing const& e, master_api&) {
  log(log_level::info, e.graceful ? "closing: graceful shutdown" : "closing: hard shutdown");
}

CLUSTER_DECL void logger::on(events::close const&, master_api&) {
  log(log_level::info, "closed: every worker is gone; the master exits");
}

CLUSTER_DECL void logger::on(events::start_refused const& e, master_api&) {
  log(log_level::error, text::format("start refused, the master exits: {}", e.why));
}

CLUSTER_DECL void logger::on(events::kill const& e, master_api&) {
  log(log_level::info, text::format("sending {} to every worker", os::signal_name(e.signal)));
}

CLUSTER_DECL void logger::on(events::restarting const&, master_api&) {
  log(log_level::info, "restarting: starting a new master");
}

CLUSTER_DECL void logger::on(events::restart const&, master_api&) {
  log(log_level::info, text::format("restart: master {} took over", ::getpid()));
}

CLUSTER_DECL void logger::on(events::cyclic_restart const& e, master_api&) {
  log(log_level::warning,
      text::format("cyclic restart: too soon after the previous one; delayed by {} ms",
                   e.delay.count()));
}

CLUSTER_DECL void logger::on(events::ready const& e, master_api&) { log(wording::of(e)); }

CLUSTER_DECL void logger::on(events::rolling_restart_started const& e, master_api&) {
  log(wording::of(e));
}

CLUSTER_DECL void logger::on(events::rolling_restart_done const& e, master_api&) {
  log(wording::of(e));
}

CLUSTER_DECL void logger::on(events::rolling_restart_failed const& e, master_api&) {
  log(wording::of(e));
}

CLUSTER_DECL void logger::on(events::restart_failed const& e, master_api&) { log(wording::of(e)); }

CLUSTER_DECL void logger::on(events::reload const& e, master_api&) { log(wording::of(e)); }

CLUSTER_DECL void logger::on(events::worker_start const&, this_worker&) {
  if (!state_) return;
  auto& s = *state_;
  if (s.master_fd > 2) ::close(s.master_fd);
  s.master_fd = -1;
  if (s.error_fd >= 0 && s.error_fd != STDERR_FILENO) {
    // dup2, not dup3: fd 2 must survive an exec() the application does (its children's
    // stderr goes to the same file).
    ::dup2(s.error_fd, STDERR_FILENO);
    ::close(s.error_fd);
    s.error_fd = STDERR_FILENO;
  }
  s.buffer.reserve(2 * flush_size);
}

CLUSTER_DECL void logger::on(events::reopen const&, this_worker& self) {
  if (!state_) return;
  flush();
  auto& s = *state_;
  std::string problems;
  reopen_onto(s.access_path, s.access_fd, false, 0, 0, problems);
  reopen_onto(s.error_path, s.error_fd, false, 0, 0, problems);
  if (!problems.empty()) {
    std::string const line = text::format("{} error worker {} (pid {}) reopening log files: {}\n",
                                          iso_timestamp(), self.id(), self.pid(), problems);
    write_all(STDERR_FILENO, line.data(), line.size());
  }
}

CLUSTER_DECL std::shared_ptr<logger::files> logger::open_all(std::filesystem::path const& dir,
                                                             bool give, uid_t uid, gid_t gid) {
  if (dir.empty()) {
    throw startup_error(
        "cluster: logger: the log directory is empty; pass one, e.g. cluster::logger{\"logs\"}");
  }
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(dir, ec);
  if (ec) {
    throw startup_error("cluster: logger: cannot resolve the log directory " + dir.string() + ": " +
                        ec.message() + "; pass an absolute path to cluster::logger");
  }
  abs = abs.lexically_normal();
  std::string d = abs.string();
  if (d.size() > 1 && d.back() == '/') d.pop_back();
  struct stat st {};
  if (::stat(d.c_str(), &st) != 0) {
    int const err = errno;
    if (err == ENOENT) {
      throw startup_error("cluster: logger: the log directory " + d +
                          " does not exist; create it (mkdir -p " + d +
                          ") or pass an existing one to cluster::logger");
    }
    throw startup_error("cluster: logger: cannot use the log directory " + d + ": " +
                        std::strerror(err) + "; pass a directory the master can reach");
  }
  if (!S_ISDIR(st.st_mode)) {
    throw startup_error("cluster: logger: " + d +
                        " is not a directory; pass a directory to cluster::logger (the log "
                        "files are created in it)");
  }
  if (::access(d.c_str(), W_OK | X_OK) != 0) {
    throw startup_error("cluster: logger: cannot write in the log directory " + d + ": " +
                        std::strerror(errno) + "; make it writable by uid " +
                        std::to_string(::geteuid()) + " (chown or chmod it)");
  }
  auto s = std::make_shared<files>();
  s->master_path = d + "/master.log";
  s->access_path = d + "/workers.access.log";
  s->error_path = d + "/workers.error.log";
  s->master_fd = open_checked(s->master_path, false, 0, 0);
  s->access_fd = open_checked(s->access_path, give, uid, gid);
  s->error_fd = open_checked(s->error_path, give, uid, gid);
  return s;
}

CLUSTER_DECL int logger::open_checked(std::string const& path, bool give, uid_t uid, gid_t gid) {
  // O_NONBLOCK: a FIFO without a reader must be an error, not a master hanging in open().
  int const fd = ::open(path.c_str(), open_flags | O_NONBLOCK, file_mode);
  if (fd < 0) {
    int const err = errno;
    if (err == EISDIR) {
      throw startup_error("cluster: logger: the log file " + path +
                          " is a directory; remove or rename it");
    }
    throw startup_error("cluster: logger: cannot open the log file " + path + " for writing: " +
                        std::strerror(err) + "; make it a regular file writable by uid " +
                        std::to_string(::geteuid()) + " (or remove it)");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (give && ::fchown(fd, uid, gid) != 0) {
    int const err = errno;
    ::close(fd);
    throw startup_error("cluster: logger: cannot give the log file " + path +
                        " to the workers' user (uid " + std::to_string(uid) + ", gid " +
                        std::to_string(gid) + "): " + std::strerror(err) +
                        "; start the master as root, or chown the file to that user");
  }
  return fd;
}

CLUSTER_DECL void logger::reopen_onto(std::string const& path, int fd, bool give, uid_t uid,
                                      gid_t gid, std::string& problems) {
  if (fd < 0) return;
  int const fresh = ::open(path.c_str(), open_flags | O_NONBLOCK, file_mode);
  if (fresh < 0) {
    problems += (problems.empty() ? "" : "; ") + path + ": " + std::strerror(errno);
    return;
  }
  ::fcntl(fresh, F_SETFL, ::fcntl(fresh, F_GETFL) & ~O_NONBLOCK);
  if (give && ::fchown(fresh, uid, gid) != 0) {
    problems += (problems.empty() ? "" : "; ") + path + ": cannot chown: " + std::strerror(errno);
  }
  // Onto the same number: whoever holds it (stderr, the buffered writer) now writes to the new
  // file, with no moment where the number is closed.
  if (fd == STDERR_FILENO) {
    ::dup2(fresh, fd);
  } else {
    ::dup3(fresh, fd, O_CLOEXEC);
  }
  ::close(fresh);
}

CLUSTER_DECL int logger::write_all(int fd, char const* data, std::size_t size) {
  if (fd < 0) return 0;
  while (size > 0) {
    ssize_t const n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;  // a full disk loses lines; it must not stop the server
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

CLUSTER_DECL void logger::log(worded const& line) const { log(line.level, line.text); }

CLUSTER_DECL void logger::log(log_level level, std::string_view text) const {
  if (!state_ || state_->master_fd < 0 || level < level_) return;
  static constexpr std::array<std::string_view, 4> names{"debug", "info", "warning", "error"};
  std::string const line =
      text::format("{} {} {}\n", iso_timestamp(), names[static_cast<std::size_t>(level)], text);
  auto& s = *state_;
  int const error = write_all(s.master_fd, line.data(), line.size());
  // Said on the master's stderr (the terminal, the journal) once when lines start being lost,
  // and once when they stop.
  if (error != 0) {
    ++s.master_lost;
    if (!s.master_failing) {
      s.master_failing = true;
      std::fprintf(stderr,
                   "cluster: logger: cannot write %s: %s; its lines are lost until it can\n",
                   s.master_path.c_str(), std::strerror(error));
      std::fflush(stderr);
    }
  } else if (s.master_failing) {
    s.master_failing = false;
    std::string const note =
        text::format("{} warning {} lines could not be written before this one\n", iso_timestamp(),
                     s.master_lost);
    write_all(s.master_fd, note.data(), note.size());
    std::fprintf(stderr, "cluster: logger: %s written again, after %llu lost lines\n",
                 s.master_path.c_str(), static_cast<unsigned long long>(s.master_lost));
    std::fflush(stderr);
    s.master_lost = 0;
  }
}

CLUSTER_DECL std::string logger::iso_timestamp() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::tm t{};
  ::gmtime_r(&ts.tv_sec, &t);
  return text::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", t.tm_year + 1900, t.tm_mon + 1,
                      t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000);
}

CLUSTER_DECL std::string logger::one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return out;
}

CLUSTER_DECL void logger::restamp(files& s, std::time_t second) {
  static constexpr std::array<char const*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm t{};
  ::gmtime_r(&second, &t);
  std::string const stamp = text::format("{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000", t.tm_mday,
                                         months[static_cast<std::size_t>(t.tm_mon)],
                                         t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
  s.stamp_size = std::min(stamp.size(), s.stamp.size());
  std::copy_n(stamp.data(), s.stamp_size, s.stamp.data());
  s.stamp_second = second;
}

}  // namespace cluster
