// SPDX-License-Identifier: BSL-1.0
// The scoreboard: one shared-memory slot per worker process, written by the worker, read by the
// master.
#pragma once

#include <cluster/os/fd.hpp>

#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
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
};

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

/// Steady-clock milliseconds, the unit of `worker_slot::heartbeat`.
inline std::int64_t heartbeat_now() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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
