// SPDX-License-Identifier: BSL-1.0
// Dropping a worker to the configured user and group once the master has bound its sockets.
#pragma once

#include <cluster/config/core_settings.hpp>
#include <cluster/os/startup_error.hpp>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace cluster::os {

/// The ids a worker switches to; resolved in the master so that a bad name fails before forking.
struct credentials {
  bool change = false;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

/// Resolves the `user` and `group` settings to ids; throws `startup_error` for an unknown name.
///
/// With a user but no group, the user's primary group is used, as login(1) would.
inline credentials resolve_credentials(identity const& user, identity const& group) {
  credentials out;
  if (!user.given() && !group.given()) return out;
  out.change = true;
  out.uid = ::geteuid();
  out.gid = ::getegid();
  std::vector<char> buf(16384);
  if (user.given()) {
    if (user.name.empty()) {
      out.uid = static_cast<uid_t>(user.id);
      passwd pw{}, *found = nullptr;
      if (::getpwuid_r(out.uid, &pw, buf.data(), buf.size(), &found) == 0 && found &&
          !group.given())
        out.gid = pw.pw_gid;
    } else {
      std::string const name(user.name);
      passwd pw{}, *found = nullptr;
      if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
        throw startup_error("cluster: unknown user '" + name +
                            "' in set<\"user\">; give an existing user name or a numeric id");
      }
      out.uid = pw.pw_uid;
      if (!group.given()) out.gid = pw.pw_gid;
    }
  }
  if (group.given()) {
    if (group.name.empty()) {
      out.gid = static_cast<gid_t>(group.id);
    } else {
      std::string const name(group.name);
      ::group gr{}, *found = nullptr;
      if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || !found) {
        throw startup_error("cluster: unknown group '" + name +
                            "' in set<\"group\">; give an existing group name or a numeric id");
      }
      out.gid = gr.gr_gid;
    }
  }
  if (::geteuid() != 0 && (out.uid != ::geteuid() || out.gid != ::getegid())) {
    throw startup_error(
        "cluster: switching workers to another user or group needs root; start the master as "
        "root or remove set<\"user\"> / set<\"group\">");
  }
  return out;
}

/// Switches the calling process (a worker) to `c`; returns false with errno set on failure.
///
/// Order matters: supplementary groups and the gid are changed while still privileged, the uid
/// last, because after setuid() the process may no longer change its groups. setgroups(0) drops
/// the master's supplementary groups (root's, typically), which setgid() alone would keep.
inline bool drop_privileges(credentials const& c) {
  if (!c.change) return true;
  if (::geteuid() == 0 && ::setgroups(0, nullptr) != 0) return false;
  if (::setgid(c.gid) != 0) return false;
  if (::setuid(c.uid) != 0) return false;
  return true;
}

}  // namespace cluster::os
