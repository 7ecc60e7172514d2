// SPDX-License-Identifier: BSL-1.0
// The benchmark's client for what wrk cannot do: time a worker's replacement, send N requests.
//
// Usage: probe respawn PORT ROUNDS       SIGKILLs the worker that answers /pid, times until a
//                                        different process answers; prints the median in ms
//        probe requests PORT N [close]   N GET / on one keep-alive connection (or one connection
//                                        each with `close`); prints how many were answered 200
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

/// A blocking loopback connection; every read waits at most `limit_ms`.
class connection {
 public:
  explicit connection(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int const one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) close();
  }
  connection(connection const&) = delete;
  connection& operator=(connection const&) = delete;
  ~connection() { close(); }

  [[nodiscard]] bool ok() const { return fd_ >= 0; }

  /// Sends `request` and reads one whole response (headers and Content-Length body); "" on
  /// failure or after `limit_ms`.
  std::string exchange(std::string_view request, int limit_ms = 5000) {
    if (fd_ < 0) return {};
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size()))
      return {};
    std::string got;
    auto const until = clock_type::now() + std::chrono::milliseconds(limit_ms);
    for (;;) {
      auto const end = got.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t length = 0;
        if (auto at = got.find("Content-Length: "); at != std::string::npos && at < end) {
          length = std::strtoul(got.c_str() + at + 16, nullptr, 10);
        }
        if (got.size() >= end + 4 + length) return got;
      }
      auto const left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
      char buf[4096];
      ssize_t const n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return {};
      got.append(buf, static_cast<std::size_t>(n));
    }
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

constexpr std::string_view keep_alive_get = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
constexpr std::string_view closing_get =
    "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";

/// The pid in the body of `/pid`, or 0 when no worker answered.
int pid_of_answer(int port, int limit_ms) {
  connection c(port);
  std::string const r =
      c.exchange("GET /pid HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", limit_ms);
  auto const body = r.find("\r\n\r\n");
  if (r.find(" 200 ") == std::string::npos || body == std::string::npos) return 0;
  return std::atoi(r.c_str() + body + 4);
}

int respawn(int port, int rounds) {
  std::vector<double> ms;
  for (int i = 0; i < rounds; ++i) {
    int const victim = pid_of_answer(port, 5000);
    if (victim <= 0) {
      std::fprintf(stderr, "probe: no worker answered /pid\n");
      return 1;
    }
    auto const t0 = clock_type::now();
    ::kill(victim, SIGKILL);
    // A connection made now waits in the listening socket's queue (the master keeps it open)
    // until a live worker accepts it; an answer from a pid other than the victim's is the
    // replacement's. With one worker there is no other process to answer.
    for (;;) {
      int const pid = pid_of_answer(port, 5000);
      if (pid > 0 && pid != victim) break;
      if (clock_type::now() - t0 > std::chrono::seconds(10)) {
        std::fprintf(stderr, "probe: no replacement answered within 10 s\n");
        return 1;
      }
    }
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%.2f\n", ms[ms.size() / 2]);
  return 0;
}

int requests(int port, long n, bool close_each) {
  long ok = 0;
  std::optional<connection> keep;
  if (!close_each) keep.emplace(port);
  for (long i = 0; i < n; ++i) {
    std::string r;
    if (close_each) {
      connection c(port);
      r = c.exchange(closing_get);
    } else {
      r = keep->exchange(keep_alive_get);
    }
    if (r.find(" 200 ") != std::string::npos) ++ok;
  }
  std::printf("%ld\n", ok);
  return ok == n ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view const mode = argc > 1 ? argv[1] : "";
  if (argc >= 4 && mode == "respawn") return respawn(std::atoi(argv[2]), std::atoi(argv[3]));
  if (argc >= 4 && mode == "requests")
    return requests(std::atoi(argv[2]), std::atol(argv[3]),
                    argc > 4 && std::string_view(argv[4]) == "close");
  std::fprintf(stderr,
               "Usage: %s respawn PORT ROUNDS | requests PORT N [close]\n"
               "  e.g. %s respawn 8080 10\n",
               argv[0], argv[0]);
  return 2;
}
