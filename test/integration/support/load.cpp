// SPDX-License-Identifier: BSL-1.0
// A bounded HTTP load generator that counts every request's outcome, for restart tests and benches.
//
// Each connection is a thread that sends keep-alive GETs one after the other and sorts every
// request into exactly one outcome:
//   ok, non200       a complete response (Content-Length, chunked or close-delimited body);
//   connect_errors   connect() refused, failed or timed out;
//   lost             written on a connection that had already carried a complete response, and
//                    no complete response came back (end-of-file, reset or timeout): the failure
//                    a restart must never cause;
//   fresh_failed     the first request on a new connection got no complete response (accepted by
//                    the kernel into a backlog that nobody served).
// A connection the server closed while idle (seen before writing) is reopened without counting
// anything, and so is one whose response said `Connection: close`. A connection whose request
// failed waits 10 ms before its next one, so that a server that is down is not hammered: a
// connection then counts a hundred failures a second. A request with no answer after
// --timeout-ms, or still in flight 2 s after the generator was told to stop, has failed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr char const* usage =
    "Usage: cluster_load --port P [--host 127.0.0.1 | --unix PATH] [--connections 50] [--path /]\n"
    "                    [--max-seconds 60] [--max-requests N] [--rate R] [--timeout-ms 5000]\n"
    "Example: cluster_load --port 3000 --connections 50 --max-seconds 10\n"
    "Prints `load: running` once every connection has had a response, `load: progress ...` on\n"
    "SIGUSR1, and one summary line at the end (SIGINT or SIGTERM, --max-seconds, --max-requests):\n"
    "load: requests=N ok=N non200=N connect_errors=N lost=N fresh_failed=N p50_us=N p99_us=N "
    "max_us=N seconds=S\n";

struct options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string unix_path;
  unsigned connections = 50;
  std::string path = "/";
  double max_seconds = 60;
  std::uint64_t max_requests = 0;  ///< 0: no limit
  double rate = 0;                 ///< total requests per second; 0: back to back
  std::chrono::milliseconds timeout{5000};
};

template <class Number>
bool parse_number(std::string_view text, Number& out) {
  auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

/// The options, or nothing after printing what is wrong.
std::optional<options> parse(int argc, char** argv) {
  options o;
  bool have_port = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view const name = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "cluster_load: %s needs a value\n", argv[i]);
      return std::nullopt;
    }
    std::string_view const value = argv[++i];
    bool good = true;
    if (name == "--port") {
      good = parse_number(value, o.port) && o.port > 0 && o.port < 65536;
      have_port = true;
    } else if (name == "--host") {
      o.host = value;
    } else if (name == "--unix") {
      o.unix_path = value;
      good = !value.empty() && value.size() < sizeof(sockaddr_un::sun_path);
    } else if (name == "--connections") {
      good = parse_number(value, o.connections) && o.connections >= 1 && o.connections <= 1000;
    } else if (name == "--path") {
      o.path = value;
      good = value.starts_with('/');
    } else if (name == "--max-seconds") {
      good = parse_number(value, o.max_seconds) && o.max_seconds > 0;
    } else if (name == "--max-requests") {
      good = parse_number(value, o.max_requests) && o.max_requests > 0;
    } else if (name == "--rate") {
      good = parse_number(value, o.rate) && o.rate > 0;
    } else if (name == "--timeout-ms") {
      long ms = 0;
      good = parse_number(value, ms) && ms > 0;
      o.timeout = std::chrono::milliseconds(ms);
    } else {
      std::fprintf(stderr, "cluster_load: unknown option %s\n", argv[i - 1]);
      return std::nullopt;
    }
    if (!good) {
      std::fprintf(stderr, "cluster_load: bad value for %s: %s\n", argv[i - 1], argv[i]);
      return std::nullopt;
    }
  }
  if (!have_port && o.unix_path.empty()) {
    std::fprintf(stderr, "cluster_load: --port or --unix is required\n");
    return std::nullopt;
  }
  return o;
}

/// Where to connect, resolved once.
struct target {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
};

std::optional<target> resolve(options const& o) {
  target t;
  if (!o.unix_path.empty()) {
    auto& a = reinterpret_cast<sockaddr_un&>(t.addr);
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, o.unix_path.data(), o.unix_path.size());
    t.len = sizeof(sockaddr_un);
    t.family = AF_UNIX;
    return t;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int const rc = ::getaddrinfo(o.host.c_str(), std::to_string(o.port).c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    std::fprintf(stderr, "cluster_load: cannot resolve %s: %s\n", o.host.c_str(),
                 ::gai_strerror(rc));
    return std::nullopt;
  }
  std::memcpy(&t.addr, found->ai_addr, found->ai_addrlen);
  t.len = found->ai_addrlen;
  t.family = found->ai_family;
  ::freeaddrinfo(found);
  return t;
}

/// Counts shared by every connection.
struct counters {
  std::atomic<std::uint64_t> ok{0}, non200{0}, connect_errors{0}, lost{0}, fresh_failed{0};
  std::atomic<std::uint64_t> tickets{0};    ///< requests started, against --max-requests
  std::atomic<unsigned> answered{0};        ///< connections that have had one response
  std::atomic<unsigned> finished{0};        ///< connection threads that have returned
  std::atomic<bool> stopping{false};        ///< start no new request
  std::atomic<std::int64_t> abandon_at{0};  ///< steady-clock ns after which in-flight requests
                                            ///< are given up; 0 while not stopping
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch())
      .count();
}

/// Lower-case ASCII comparison of a header name or token.
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

bool icontains(std::string_view text, std::string_view word) {
  for (std::size_t i = 0; i + word.size() <= text.size(); ++i) {
    if (iequals(text.substr(i, word.size()), word)) return true;
  }
  return false;
}

/// What parsing the bytes received so far tells.
struct response {
  enum class state { incomplete, complete, malformed } st = state::incomplete;
  int status = 0;
  bool close = false;  ///< the server ends the connection after this response
};

/// Parses one HTTP/1.x response from `buf`; `eof` says the peer has closed, which completes a
/// close-delimited body.
response parse_response(std::string_view buf, bool eof) {
  response r;
  auto const head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return r;
  std::string_view const head = buf.substr(0, head_end);
  // Status line: HTTP/1.1 200 OK
  if (!head.starts_with("HTTP/1.") || head.size() < 12 || head[8] != ' ') {
    r.st = response::state::malformed;
    return r;
  }
  bool const http10 = head[7] == '0';
  if (!parse_number(head.substr(9, 3), r.status)) {
    r.st = response::state::malformed;
    return r;
  }
  std::optional<std::size_t> length;
  bool chunked = false;
  bool keep_alive = false;
  for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos;) {
    std::size_t const start = pos + 2;
    std::size_t const next = head.find("\r\n", start);
    std::string_view const line =
        head.substr(start, next == std::string_view::npos ? std::string_view::npos : next - start);
    pos = next;
    auto const colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view const name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (iequals(name, "content-length")) {
      std::size_t n = 0;
      if (!parse_number(value, n)) {
        r.st = response::state::malformed;
        return r;
      }
      length = n;
    } else if (iequals(name, "transfer-encoding")) {
      chunked = icontains(value, "chunked");
    } else if (iequals(name, "connection")) {
      r.close = r.close || icontains(value, "close");
      keep_alive = icontains(value, "keep-alive");
    }
  }
  if (http10 && !keep_alive) r.close = true;
  std::string_view body = buf.substr(head_end + 4);
  bool const no_body = r.status / 100 == 1 || r.status == 204 || r.status == 304;
  if (no_body) {
    r.st = response::state::complete;
  } else if (chunked) {
    // size CRLF data CRLF ... 0 CRLF [trailers] CRLF
    for (;;) {
      auto const eol = body.find("\r\n");
      if (eol == std::string_view::npos) return r;
      std::size_t size = 0;
      std::string_view digits = body.substr(0, eol);
      digits = digits.substr(0, digits.find(';'));
      auto const [end, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
      if (ec != std::errc{} || digits.empty()) {
        r.st = response::state::malformed;
        return r;
      }
      body.remove_prefix(eol + 2);
      if (size == 0) {
        // Trailers end with an empty line; usually there are none.
        if (body.starts_with("\r\n") || body.find("\r\n\r\n") != std::string_view::npos) {
          r.st = response::state::complete;
        }
        return r;
      }
      if (body.size() < size + 2) return r;
      body.remove_prefix(size + 2);
    }
  } else if (length) {
    if (body.size() >= *length) r.st = response::state::complete;
  } else {
    // Neither length nor chunks: the body ends when the server closes.
    r.close = true;
    if (eof) r.st = response::state::complete;
  }
  return r;
}

/// One connection's loop, run by its own thread.
class connection {
 public:
  connection(options const& o, target const& t, counters& c, unsigned index)
      : opt_(o), target_(t), count_(c), index_(index) {
    request_ = "GET " + o.path + " HTTP/1.1\r\nHost: " +
               (o.unix_path.empty() ? o.host + ":" + std::to_string(o.port) : "localhost") +
               "\r\nUser-Agent: cluster_load\r\n\r\n";
    latencies_.reserve(4096);
  }
  connection(connection const&) = delete;
  connection& operator=(connection const&) = delete;
  ~connection() { close(); }

  void run() {
    auto const interval = opt_.rate > 0
                              ? std::chrono::duration<double>(opt_.connections / opt_.rate)
                              : std::chrono::duration<double>(0);
    // Spread the first requests of paced connections over one interval.
    auto next = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                        interval * index_ / opt_.connections);
    while (!count_.stopping.load(std::memory_order_relaxed)) {
      if (opt_.rate > 0) {
        if (!pause_until(next)) break;
        next += std::chrono::duration_cast<clock_type::duration>(interval);
      }
      if (opt_.max_requests != 0 && count_.tickets.fetch_add(1) >= opt_.max_requests) break;
      if (!one_request()) {
        // Without this a dead server would make every connection spin on connect().
        pause_until(clock_type::now() + 10ms);
      }
    }
    count_.finished.fetch_add(1);
  }

  std::vector<std::uint32_t>& latencies() { return latencies_; }

 private:
  /// Sleeps until `t` or until the generator stops; false if it stops.
  bool pause_until(clock_type::time_point t) const {
    while (clock_type::now() < t) {
      if (count_.stopping.load(std::memory_order_relaxed)) return false;
      std::this_thread::sleep_for(std::min<clock_type::duration>(t - clock_type::now(), 20ms));
    }
    return !count_.stopping.load(std::memory_order_relaxed);
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  /// The earlier of the request's own deadline and the moment the generator gives up in-flight
  /// requests after a stop.
  clock_type::time_point deadline(clock_type::time_point request_deadline) const {
    std::int64_t const abandon = count_.abandon_at.load(std::memory_order_relaxed);
    if (abandon == 0) return request_deadline;
    return std::min(request_deadline,
                    clock_type::time_point(std::chrono::duration_cast<clock_type::duration>(
                        std::chrono::nanoseconds(abandon))));
  }

  /// Waits for `events` on the socket until `until` (re-read in slices, since a stop can bring
  /// it closer); false on timeout.
  bool wait_for(short events, clock_type::time_point until) const {
    for (;;) {
      auto const limit = deadline(until);
      auto const left =
          std::chrono::duration_cast<std::chrono::milliseconds>(limit - clock_type::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, events, 0};
      int const n = ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 100)));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return false;
    }
  }

  /// True if the server has closed the idle connection (or sent something unasked): it cannot
  /// carry a request, and nothing was lost.
  bool closed_while_idle() const {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  /// Opens a non-blocking connection within the request timeout; false on failure.
  bool open(clock_type::time_point until) {
    fd_ = ::socket(target_.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (target_.family != AF_UNIX) {
      int one = 1;
      ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (::connect(fd_, reinterpret_cast<sockaddr const*>(&target_.addr), target_.len) == 0) {
      return true;
    }
    if (errno != EINPROGRESS && errno != EAGAIN) return false;
    if (!wait_for(POLLOUT, until)) return false;
    int err = 0;
    socklen_t len = sizeof err;
    return ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }

  /// Sends the request and reads one response; nothing when none came complete.
  std::optional<response> exchange(clock_type::time_point until) {
    std::string_view out = request_;
    while (!out.empty()) {
      ssize_t const n = ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        out.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait_for(POLLOUT, until)) return std::nullopt;
      } else {
        return std::nullopt;
      }
    }
    buf_.clear();
    for (;;) {
      char chunk[16384];
      ssize_t const n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buf_.append(chunk, static_cast<std::size_t>(n));
        response const r = parse_response(buf_, false);
        if (r.st == response::state::complete) return r;
        if (r.st == response::state::malformed) return std::nullopt;
      } else if (n == 0) {
        response const r = parse_response(buf_, true);
        if (r.st != response::state::complete) return std::nullopt;
        return r;
      } else if (errno == EAGAIN || errno == EINTR) {
        if (!wait_for(POLLIN, until)) return std::nullopt;
      } else {
        return std::nullopt;  // reset
      }
    }
  }

  /// One request, from a connection to reuse or to open; false if it failed.
  bool one_request() {
    auto const start = clock_type::now();
    auto const until = start + opt_.timeout;
    if (fd_ >= 0 && closed_while_idle()) close();
    bool const fresh = fd_ < 0;
    if (fresh && !open(until)) {
      close();
      count_.connect_errors.fetch_add(1);
      return false;
    }
    auto const r = exchange(until);
    if (!r) {
      (fresh ? count_.fresh_failed : count_.lost).fetch_add(1);
      close();
      return false;
    }
    if (r->status == 200) {
      count_.ok.fetch_add(1);
      auto const us =
          std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - start);
      latencies_.push_back(static_cast<std::uint32_t>(std::min<long long>(us.count(), UINT32_MAX)));
    } else {
      count_.non200.fetch_add(1);
    }
    if (!answered_) {
      answered_ = true;
      count_.answered.fetch_add(1);
    }
    if (r->close) close();
    return true;
  }

  options const& opt_;
  target const& target_;
  counters& count_;
  unsigned index_;
  std::string request_;
  std::string buf_;
  int fd_ = -1;  ///< kept between requests only after a complete response
  bool answered_ = false;
  std::vector<std::uint32_t> latencies_;
};

/// The figures of one summary or progress line.
std::string figures(counters const& c, std::vector<std::uint32_t>* sorted, double seconds) {
  std::uint64_t const ok = c.ok, non200 = c.non200, ce = c.connect_errors, lost = c.lost,
                      ff = c.fresh_failed;
  auto pct = [&](double p) -> std::uint64_t {
    if (sorted == nullptr || sorted->empty()) return 0;
    // Nearest rank: the smallest value with at least p of the samples at or below it.
    auto rank = static_cast<std::size_t>(p * static_cast<double>(sorted->size()) + 0.999999);
    rank = std::clamp<std::size_t>(rank, 1, sorted->size());
    return (*sorted)[rank - 1];
  };
  char line[512];
  std::snprintf(line, sizeof line,
                "requests=%llu ok=%llu non200=%llu connect_errors=%llu lost=%llu fresh_failed=%llu "
                "p50_us=%llu p99_us=%llu max_us=%llu seconds=%.3f",
                static_cast<unsigned long long>(ok + non200 + ce + lost + ff),
                static_cast<unsigned long long>(ok), static_cast<unsigned long long>(non200),
                static_cast<unsigned long long>(ce), static_cast<unsigned long long>(lost),
                static_cast<unsigned long long>(ff), static_cast<unsigned long long>(pct(0.50)),
                static_cast<unsigned long long>(pct(0.99)),
                static_cast<unsigned long long>(sorted && !sorted->empty() ? sorted->back() : 0),
                seconds);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  auto const opt = parse(argc, argv);
  if (!opt) {
    std::fputs(usage, stderr);
    return 2;
  }
  auto const where = resolve(*opt);
  if (!where) return 2;

  // A peer that resets a connection must not kill the generator (send() also says
  // MSG_NOSIGNAL, this covers everything else).
  ::signal(SIGPIPE, SIG_IGN);
  // Signals are taken synchronously by the main thread: blocked here, before any thread starts,
  // so that every thread inherits the mask and none is interrupted by them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // An ignored signal is discarded even while blocked, and a shell ignores SIGINT in the
  // commands it starts in the background: take them back (blocked, so none is lost meanwhile).
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGUSR1, SIG_DFL);

  counters count;
  std::vector<std::unique_ptr<connection>> conns;
  std::vector<std::thread> threads;
  auto const started = clock_type::now();
  for (unsigned i = 0; i < opt->connections; ++i) {
    conns.push_back(std::make_unique<connection>(*opt, *where, count, i));
  }
  for (auto& c : conns) threads.emplace_back([&c] { c->run(); });
  auto const elapsed = [&] {
    return std::chrono::duration<double>(clock_type::now() - started).count();
  };

  bool running_said = false;
  auto const stop_at = started + std::chrono::duration_cast<clock_type::duration>(
                                     std::chrono::duration<double>(opt->max_seconds));
  for (;;) {
    if (!running_said && count.answered.load() == opt->connections) {
      std::printf("load: running\n");
      std::fflush(stdout);
      running_said = true;
    }
    if (count.finished.load() == opt->connections) break;  // --max-requests used up
    if (clock_type::now() >= stop_at) break;
    timespec const slice{0, 20'000'000};
    int const sig = ::sigtimedwait(&set, nullptr, &slice);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (sig == SIGUSR1) {
      std::printf("load: progress %s\n", figures(count, nullptr, elapsed()).c_str());
      std::fflush(stdout);
    }
  }
  // In-flight requests get two seconds to finish; after that they count as failed.
  count.abandon_at = now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(2s).count();
  count.stopping = true;
  for (auto& t : threads) t.join();
  double const seconds = elapsed();

  std::vector<std::uint32_t> all;
  for (auto& c : conns) all.insert(all.end(), c->latencies().begin(), c->latencies().end());
  std::sort(all.begin(), all.end());
  std::printf("load: %s\n", figures(count, &all, seconds).c_str());
  std::fflush(stdout);
  return 0;
}
