// SPDX-License-Identifier: BSL-1.0
// The scoreboard: one shared-memory slot per worker process, written by the worker, read by the
// master.
#pragma once

#include <cluster/os/fd.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cluster::ipc {

/// One worker's slot. Workers update it with relaxed atomic stores: no system call, no lock, and
/// a worker that dies mid-update leaves nothing locked. The master only reads it.
///
/// The counters are written by plugins in the worker (the `stats` plugin does), each by the
/// worker's single event loop: `increment` and `decrement` are plain load-and-store, with no
/// locked instruction on the request path.
struct alignas(64) worker_slot {
  /// When the worker's event loop last ran, in steady-clock milliseconds (the clock is the same
  /// in every process of the machine). A worker stuck in a handler stops updating it.
  std::atomic<std::int64_t> heartbeat{0};
  std::atomic<std::uint64_t> connections_active{0};  ///< connections open now
  std::atomic<std::uint64_t> connections_total{0};   ///< connections accepted since it started
  std::atomic<std::uint64_t> requests{0};            ///< requests answered since it started

  //=== what the worker is doing: read by the master when the worker hangs ===//

  /// When the worker entered the handler of the request below, in the unit of `heartbeat`; 0
  /// while it is in none. Written last (and cleared first), so that a reader seeing the same
  /// non-zero value before and after reading the text has read one request's text whole.
  std::atomic<std::int64_t> busy_since{0};
  /// Counts the handlers entered: tells the end of one request from another's.
  std::atomic<std::uint64_t> busy_serial{0};
  /// How long that handler may run (ms) before the master kills the worker; 0: no deadline
  /// (none is set, the route has none, or the handler is asynchronous and the worker itself
  /// closes the connection at the deadline).
  std::atomic<std::int64_t> busy_deadline{0};
  /// "METHOD target" of that request (cut to fit), NUL-padded, eight bytes per word.
  std::array<std::atomic<std::uint64_t>, 16> busy_request{};
  /// The client's socket address (a sockaddr_in or sockaddr_in6), zero for a unix socket.
  std::array<std::atomic<std::uint64_t>, 4> busy_client{};
  /// Set by the master just before it sends the trace signal: the worker's handler writes its
  /// stack only then, so that a stray signal does nothing.
  std::atomic<std::uint32_t> trace_requested{0};
};

/// Steady-clock milliseconds, the unit of `worker_slot::heartbeat`.
inline std::int64_t heartbeat_now() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Bytes of text and of address a slot holds for the request in flight.
inline constexpr std::size_t busy_request_bytes = 16 * sizeof(std::uint64_t);
inline constexpr std::size_t busy_client_bytes = 4 * sizeof(std::uint64_t);

namespace detail {
template <std::size_t N>
void store_words(std::array<std::atomic<std::uint64_t>, N>& words, unsigned char const* bytes) {
  for (std::size_t i = 0; i < N; ++i) {
    std::uint64_t word = 0;
    std::memcpy(&word, bytes + i * sizeof word, sizeof word);
    words[i].store(word, std::memory_order_relaxed);
  }
}
template <std::size_t N>
void load_words(std::array<std::atomic<std::uint64_t>, N> const& words, unsigned char* bytes) {
  for (std::size_t i = 0; i < N; ++i) {
    std::uint64_t const word = words[i].load(std::memory_order_relaxed);
    std::memcpy(bytes + i * sizeof word, &word, sizeof word);
  }
}
}  // namespace detail

/// Records, in the calling worker's own `slot`, that it enters the handler of the request
/// `method` `target` from `client` (`client_size` bytes of socket address, or none) now. Some
/// thirty relaxed stores and a clock read (no system call: the vDSO): no lock. Returns what
/// `leave_request` takes.
inline std::uint64_t enter_request(worker_slot& slot, std::string_view method,
                                   std::string_view target, void const* client,
                                   std::size_t client_size, std::int64_t deadline_ms = 0) noexcept {
  std::uint64_t const serial = slot.busy_serial.load(std::memory_order_relaxed) + 1;
  slot.busy_since.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  std::array<unsigned char, busy_request_bytes> text{};
  std::size_t const m = std::min(method.size(), text.size() - 1);
  std::memcpy(text.data(), method.data(), m);
  if (m < text.size()) text[m] = ' ';
  std::size_t const t = std::min(target.size(), text.size() - m - 1);
  std::memcpy(text.data() + m + 1, target.data(), t);
  detail::store_words(slot.busy_request, text.data());
  std::array<unsigned char, busy_client_bytes> addr{};
  if (client != nullptr) std::memcpy(addr.data(), client, std::min(client_size, addr.size()));
  detail::store_words(slot.busy_client, addr.data());
  slot.busy_serial.store(serial, std::memory_order_relaxed);
  slot.busy_deadline.store(deadline_ms, std::memory_order_relaxed);
  slot.busy_since.store(heartbeat_now(), std::memory_order_release);
  return serial;
}

/// Records that the handler `enter_request` returned `serial` for has returned, unless another
/// request's handler was entered since (an asynchronous handler yields to other connections).
inline void leave_request(worker_slot& slot, std::uint64_t serial) noexcept {
  if (slot.busy_serial.load(std::memory_order_relaxed) == serial)
    slot.busy_since.store(0, std::memory_order_relaxed);
}

/// What a worker was doing, as the master read it from its slot.
struct activity {
  std::int64_t since = 0;  ///< when it entered the handler (`heartbeat_now()` units); 0: none
  std::string request;     ///< "GET /path"
  std::array<unsigned char, busy_client_bytes> client{};  ///< the client's socket address
};

/// The request the worker of `slot` is in the handler of, if it is in one and the slot holds it
/// whole (a worker writing its slot while it is read is seen as in none).
inline std::optional<activity> read_activity(worker_slot const& slot) {
  activity a;
  a.since = slot.busy_since.load(std::memory_order_acquire);
  if (a.since == 0) return std::nullopt;
  std::array<unsigned char, busy_request_bytes> text{};
  detail::load_words(slot.busy_request, text.data());
  detail::load_words(slot.busy_client, a.client.data());
  std::atomic_thread_fence(std::memory_order_acquire);
  if (slot.busy_since.load(std::memory_order_relaxed) != a.since) return std::nullopt;
  auto const* begin = reinterpret_cast<char const*>(text.data());
  a.request.assign(begin, std::find(begin, begin + text.size(), '\0'));
  return a;
}

/// Adds one to a counter of the calling worker's own slot (single writer).
inline void increment(std::atomic<std::uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
/// Takes one from a counter of the calling worker's own slot (single writer).
inline void decrement(std::atomic<std::uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

/// What the master reads of one slot.
struct slot_snapshot {
  std::int64_t heartbeat = 0;
  std::uint64_t connections_active = 0;
  std::uint64_t connections_total = 0;
  std::uint64_t requests = 0;
};

/// Reads every field of `slot` (each field on its own: the figures of a busy worker move on).
inline slot_snapshot read(worker_slot const& slot) noexcept {
  return {slot.heartbeat.load(std::memory_order_relaxed),
          slot.connections_active.load(std::memory_order_relaxed),
          slot.connections_total.load(std::memory_order_relaxed),
          slot.requests.load(std::memory_order_relaxed)};
}

static_assert(std::atomic<std::int64_t>::is_always_lock_free &&
                  std::atomic<std::uint64_t>::is_always_lock_free,
              "the scoreboard relies on lock-free 64-bit atomics in shared memory");

/// A fixed number of slots in memory shared with every worker forked after it was made.
///
/// The master hands each live worker process a slot of its own (`acquire`), and takes it back
/// when the process is reaped (`release`): two processes with the same worker id (a rolling
/// restart) never share a slot.
class scoreboard {
 public:
  /// An empty scoreboard: no slots, nothing mapped.
  scoreboard() = default;

  /// Maps `slots` slots. MAP_SHARED|MAP_ANONYMOUS memory is inherited by fork() and shared, and
  /// is never inherited by exec(): a successor master makes its own.
  explicit scoreboard(std::size_t slots) : size_(slots) {
    if (slots == 0) return;
    void* p = ::mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) os::throw_errno("mmap (scoreboard)");
    slots_ = static_cast<worker_slot*>(p);
    for (std::size_t i = 0; i < slots; ++i) new (&slots_[i]) worker_slot{};
    for (std::size_t i = slots; i > 0; --i) free_.push_back(i - 1);
  }

  scoreboard(scoreboard&& other) noexcept
      : slots_(std::exchange(other.slots_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        free_(std::move(other.free_)) {}
  scoreboard& operator=(scoreboard&& other) noexcept {
    if (this != &other) {
      unmap();
      slots_ = std::exchange(other.slots_, nullptr);
      size_ = std::exchange(other.size_, 0);
      free_ = std::move(other.free_);
    }
    return *this;
  }
  scoreboard(scoreboard const&) = delete;
  scoreboard& operator=(scoreboard const&) = delete;
  ~scoreboard() { unmap(); }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  /// A free slot, reset, or none when every slot is taken.
  std::optional<std::size_t> acquire() noexcept {
    if (free_.empty()) return std::nullopt;
    std::size_t const i = free_.back();
    free_.pop_back();
    worker_slot& s = slots_[i];
    s.heartbeat.store(0, std::memory_order_relaxed);
    s.connections_active.store(0, std::memory_order_relaxed);
    s.connections_total.store(0, std::memory_order_relaxed);
    s.requests.store(0, std::memory_order_relaxed);
    s.busy_since.store(0, std::memory_order_relaxed);
    s.trace_requested.store(0, std::memory_order_relaxed);
    return i;
  }

  /// Gives slot `i` back once its process is gone.
  void release(std::size_t i) { free_.push_back(i); }

  worker_slot& operator[](std::size_t i) noexcept { return slots_[i]; }
  worker_slot const& operator[](std::size_t i) const noexcept { return slots_[i]; }

 private:
  [[nodiscard]] std::size_t bytes() const noexcept { return size_ * sizeof(worker_slot); }
  void unmap() noexcept {
    if (slots_) ::munmap(slots_, bytes());
    slots_ = nullptr;
  }

  worker_slot* slots_ = nullptr;
  std::size_t size_ = 0;
  std::vector<std::size_t> free_;
};

}  // namespace cluster::ipc
