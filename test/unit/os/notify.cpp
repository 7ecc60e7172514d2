// SPDX-License-Identifier: BSL-1.0
// The sd_notify protocol: addresses, the environment, and sends that fail without harm.
#include <cluster/os/notify.hpp>

#include "../../support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

using namespace cluster;
using namespace std::chrono_literals;

namespace {

/// A datagram socket bound where a service manager's would be: at a path, or at `@name`.
struct fake_manager {
  os::unique_fd fd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};

  explicit fake_manager(std::string const& address) {
    REQUIRE(fd);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(address.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, address.data(), address.size());
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
    if (address.front() == '@') {
      addr.sun_path[0] = '\0';  // exactly as long as the name: no trailing NUL
    } else {
      length += 1;
    }
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr const*>(&addr), length) == 0);
  }

  /// The next datagram, or "" if none comes within 5 s.
  [[nodiscard]] std::string receive() const {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return {};
    char buffer[4096];
    ssize_t const n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string{};
  }
};

/// The number of descriptors this process has open.
std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto const& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

/// Clears the three variables a manager sets, so that each case starts from none.
void clear_environment() {
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
}

volatile sig_atomic_t sigpipe_raised = 0;
extern "C" void count_sigpipe(int /*signal*/) { sigpipe_raised = 1; }

}  // namespace

TEST_CASE("a notification reaches a manager listening at a path") {
  cluster::testing::temp_dir dir("cluster-notify");
  std::string const address = (dir.path() / "notify").string();
  fake_manager manager(address);
  os::notifier const n(address);
  CHECK(n.enabled());
  CHECK(n.address() == address);
  CHECK_FALSE(n.watchdog());
  REQUIRE(n.send("READY=1\nSTATUS=2 workers accepting"));
  CHECK(manager.receive() == "READY=1\nSTATUS=2 workers accepting");
}

TEST_CASE("a notification reaches a manager listening at an abstract name") {
  std::string const address = "@cluster-notify-test-" + std::to_string(::getpid());
  fake_manager manager(address);
  os::notifier const n(address);
  CHECK(n.enabled());
  CHECK(n.address() == address);  // as given, with its '@'
  REQUIRE(n.send("STOPPING=1"));
  CHECK(manager.receive() == "STOPPING=1");
}

TEST_CASE("the environment gives the socket and the watchdog, and is cleared") {
  clear_environment();
  cluster::testing::temp_dir dir("cluster-notify");
  std::string const address = (dir.path() / "notify").string();
  fake_manager manager(address);
  ::setenv("NOTIFY_SOCKET", address.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "3000000", 1);

  SECTION("no WATCHDOG_PID: the watchdog is ours") {
    auto const n = os::notifier::from_environment();
    CHECK(n.enabled());
    CHECK(n.address() == address);
    CHECK(n.watchdog() == std::chrono::microseconds(3s));
    REQUIRE(n.send("WATCHDOG=1"));
    CHECK(manager.receive() == "WATCHDOG=1");
  }
  SECTION("WATCHDOG_PID is this process: the watchdog is ours") {
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    CHECK(os::notifier::from_environment().watchdog() == std::chrono::microseconds(3s));
  }
  SECTION("WATCHDOG_PID is another process: no watchdog, notifications still go") {
    ::setenv("WATCHDOG_PID", std::to_string(::getppid()).c_str(), 1);
    auto const n = os::notifier::from_environment();
    CHECK(n.enabled());
    CHECK_FALSE(n.watchdog());
  }
  SECTION("a WATCHDOG_USEC that is not a positive number is no watchdog") {
    for (char const* bad : {"0", "", "-5", "12s", "18446744073709551615", "99999999999999999999"}) {
      ::setenv("NOTIFY_SOCKET", address.c_str(), 1);
      ::setenv("WATCHDOG_USEC", bad, 1);
      CAPTURE(bad);
      CHECK_FALSE(os::notifier::from_environment().watchdog());
    }
  }
  // As sd_notify(unset_environment=1): the workers the master forks must not notify, nor the
  // programs they run.
  CHECK(std::getenv("NOTIFY_SOCKET") == nullptr);
  CHECK(std::getenv("WATCHDOG_USEC") == nullptr);
  CHECK(std::getenv("WATCHDOG_PID") == nullptr);
}

TEST_CASE("no NOTIFY_SOCKET, or an invalid one, gives a disabled notifier") {
  clear_environment();
  SECTION("unset") {
    ::setenv("WATCHDOG_USEC", "1000000", 1);
    auto const n = os::notifier::from_environment();
    CHECK_FALSE(n.enabled());
    CHECK_FALSE(n.watchdog());  // no manager to send keep-alives to
    CHECK_FALSE(n.send("READY=1"));
  }
  SECTION("invalid") {
    for (std::string const& bad : std::vector<std::string>{"relative/path", "@", "vsock:2:1234",
                                                           "/" + std::string(200, 'a'), ""}) {
      CAPTURE(bad);
      ::setenv("NOTIFY_SOCKET", bad.c_str(), 1);
      auto const n = os::notifier::from_environment();
      CHECK_FALSE(n.enabled());
      CHECK(n.address().empty());
      CHECK_FALSE(n.send("READY=1"));
    }
  }
  CHECK(std::getenv("NOTIFY_SOCKET") == nullptr);
  CHECK(std::getenv("WATCHDOG_USEC") == nullptr);
}

TEST_CASE("a default notifier is disabled") {
  os::notifier const n;
  CHECK_FALSE(n.enabled());
  CHECK(n.address().empty());
  CHECK_FALSE(n.watchdog());
  CHECK_FALSE(n.send("READY=1"));
}

TEST_CASE("an invalid explicit address drops the watchdog too") {
  os::notifier const n("not/absolute", std::chrono::microseconds(1s));
  CHECK_FALSE(n.enabled());
  CHECK_FALSE(n.watchdog());
}

TEST_CASE("sending with nobody listening fails without SIGPIPE") {
  struct sigaction counting {};
  counting.sa_handler = count_sigpipe;
  ::sigemptyset(&counting.sa_mask);
  struct sigaction previous {};
  REQUIRE(::sigaction(SIGPIPE, &counting, &previous) == 0);
  sigpipe_raised = 0;
  cluster::testing::temp_dir dir("cluster-notify");

  SECTION("no socket file") {
    CHECK_FALSE(os::notifier((dir.path() / "missing").string()).send("READY=1"));
  }
  SECTION("a socket file whose manager is gone") {
    std::string const address = (dir.path() / "stale").string();
    { fake_manager gone(address); }
    CHECK_FALSE(os::notifier(address).send("READY=1"));
  }
  SECTION("an abstract name nobody holds") {
    CHECK_FALSE(os::notifier("@cluster-notify-nobody-" + std::to_string(::getpid())).send("X=1"));
  }
  CHECK(sigpipe_raised == 0);
  ::sigaction(SIGPIPE, &previous, nullptr);
}

TEST_CASE("a manager that does not read never blocks the sender") {
  cluster::testing::temp_dir dir("cluster-notify");
  std::string const address = (dir.path() / "notify").string();
  fake_manager stalled(address);
  os::notifier const n(address);
  auto const start = std::chrono::steady_clock::now();
  int sent = 0;
  // The receive queue is bounded (net.unix.max_dgram_qlen): a blocking send would hang here.
  while (sent < 100000 && n.send("WATCHDOG=1")) ++sent;
  CHECK(sent > 0);
  CHECK(sent < 100000);
  CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("no descriptor stays open after a send") {
  cluster::testing::temp_dir dir("cluster-notify");
  std::string const address = (dir.path() / "notify").string();
  fake_manager manager(address);
  os::notifier const n(address);
  std::size_t const before = open_descriptors();
  REQUIRE(n.send("STATUS=idle"));
  CHECK(open_descriptors() == before);  // nothing a forked worker or an exec'd program could get
}

TEST_CASE("monotonic_usec is CLOCK_MONOTONIC in microseconds") {
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  // steady_clock is CLOCK_MONOTONIC on Linux with libstdc++ and libc++.
  auto const before =
      duration_cast<microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::uint64_t const ours = os::monotonic_usec();
  auto const after =
      duration_cast<microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  CHECK(ours >= static_cast<std::uint64_t>(before));
  CHECK(ours <= static_cast<std::uint64_t>(after));
}
