// SPDX-License-Identifier: BSL-1.0
// When the reload plugin acts on the changes it sees: debounced, coalesced and rate-limited, on a
// clock it is given (so that every decision is tested on a simulated one).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace cluster::detail {

/// What a change asks for: the workers replaced (a file they load), or the master restarted
/// onto a new executable (which the workers, forked from the master, cannot pick up).
enum class reload_kind : std::uint8_t { none, workers, master };

/// When to reload, from the changes seen:
///
/// - **debounced**: a reload starts once no change has come for `quiet` (a trailing quiet
///   period), so that a burst of writes (a save that writes three files, a build that empties
///   and refills a folder) is one reload, started after the last of them;
/// - **coalesced**: never while one runs; whatever changes meanwhile leads to one more reload
///   after it, however many changes there were;
/// - **rate-limited**: never sooner than `min_interval` after the previous one started, so that
///   a file rewritten for ever (a log in the watched tree by mistake) cannot restart the
///   workers in a loop faster than that.
///
/// The changes of one reload ask for the most they ask for (a new executable and a template:
/// a master restart, which replaces the workers too), and it is named by the first change.
class reload_schedule {
 public:
  using clock = std::chrono::steady_clock;

  /// One reload to carry out.
  struct reload {
    reload_kind what = reload_kind::none;
    std::string path;         ///< the first change that led to it
    std::size_t changes = 0;  ///< how many changes it covers
  };

  reload_schedule(clock::duration quiet, clock::duration min_interval) noexcept
      : quiet_(quiet), min_interval_(min_interval) {}

  /// `path` changed at `now`, asking for `what`.
  void changed(std::string path, reload_kind what, clock::time_point now) {
    if (what == reload_kind::none) return;
    if (pending_.changes == 0) pending_.path = std::move(path);
    if (what > pending_.what) pending_.what = what;
    ++pending_.changes;
    last_change_ = now;
  }

  /// When `take` will have a reload for the changes seen so far; nothing when there are none,
  /// or while a reload runs (its end is `finished`).
  [[nodiscard]] std::optional<clock::time_point> due() const {
    if (pending_.changes == 0 || running_) return std::nullopt;
    auto at = last_change_ + quiet_;
    if (last_start_ && *last_start_ + min_interval_ > at) at = *last_start_ + min_interval_;
    return at;
  }

  /// The reload due at `now`, if any: it is then running until `finished`.
  std::optional<reload> take(clock::time_point now) {
    auto const at = due();
    if (!at || *at > now) return std::nullopt;
    running_ = true;
    last_start_ = now;
    return std::exchange(pending_, reload{});
  }

  /// The running reload ended (done or failed): changes seen meanwhile may now be taken.
  void finished() noexcept { running_ = false; }

  [[nodiscard]] bool running() const noexcept { return running_; }
  /// How many changes wait for the next reload.
  [[nodiscard]] std::size_t pending() const noexcept { return pending_.changes; }

 private:
  clock::duration quiet_;
  clock::duration min_interval_;
  reload pending_;
  clock::time_point last_change_{};
  std::optional<clock::time_point> last_start_;
  bool running_ = false;
};

}  // namespace cluster::detail
