// SPDX-License-Identifier: BSL-1.0
// Runs a program as an unprivileged user with at most NPROC processes (RLIMIT_NPROC, which root
// ignores): how a test makes the master's fork() fail. The test makes room again by ending another
// process of that user.
//   as_user UID NPROC PROGRAM [ARGS...]
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "Usage: %s UID NPROC PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  auto const uid = static_cast<uid_t>(std::strtoul(argv[1], nullptr, 10));
  auto const nproc = static_cast<rlim_t>(std::strtoul(argv[2], nullptr, 10));
  rlimit const limit{nproc, nproc};
  if (::setrlimit(RLIMIT_NPROC, &limit) != 0 || ::setgroups(0, nullptr) != 0 ||
      ::setgid(uid) != 0 || ::setuid(uid) != 0) {
    std::fprintf(stderr, "as_user: %s\n", std::strerror(errno));
    return 1;
  }
  // Changing credentials cleared the parent-death signal the test set: the program must still
  // die with the test.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::execv(argv[3], argv + 3);
  std::fprintf(stderr, "as_user: cannot execute %s: %s\n", argv[3], std::strerror(errno));
  return 127;
}
