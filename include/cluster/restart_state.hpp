// SPDX-License-Identifier: BSL-1.0
// What plugins hand from an old master to a new one across a restart: typed, versioned parts.
#pragma once

#include <cluster/config/detail/value_traits.hpp>
#include <cluster/config/fixed_string.hpp>
#include <cluster/events.hpp>
#include <cluster/wire/codec.hpp>
#include <cluster/wire/fingerprint.hpp>
#include <cluster/wire/handover_types.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace cluster::detail::wire {

//=== the envelope ===//

/// The first bytes of every state: a state is recognised before anything in it is believed.
inline constexpr std::string_view magic{"CLUSTER\0", 8};

/// The envelope's layout (magic, format, part count; per part its name, handover version,
/// fingerprint and payload). Raise it when that layout changes; a payload's own layout is each
/// plugin's handover_version.
inline constexpr std::uint32_t format_version = 1;

/// The fewest bytes a part takes: name length, version, fingerprint, payload length.
inline constexpr std::size_t min_part_size = 8 + 4 + 8 + 8;

//=== what put<P>() and get<P>() require of P ===//

template <class Plugin>
concept named = requires {
  { Plugin::name.view() } -> std::convertible_to<std::string_view>;
};

template <class Plugin>
concept has_handover = requires {
  typename Plugin::handover;
};

/// A constant that fits in 32 bits: the integral_constant does not form for a negative or
/// too large value, nor for one that is not a constant.
template <class Plugin>
concept has_handover_version = requires {
  requires std::integral<std::remove_cvref_t<decltype(Plugin::handover_version)>>;
  typename std::integral_constant<std::uint32_t, Plugin::handover_version>;
};

/// What put<P>() accepts for a plugin without a handover type: anything, braced lists included,
/// so that the call reaches the plain static_assert instead of a "no matching function" error.
struct anything {
  anything() = default;
  template <class T>
  anything(T const&) {}  // NOLINT(google-explicit-constructor)
  anything(std::initializer_list<anything>) {}
};

/// `Plugin::handover`, or `anything` when the plugin declares none (which put<P>() reports).
/// Users name it as cluster::handover_of.
template <class Plugin>
struct handover_or_anything {
  using type = anything;
};
template <has_handover Plugin>
struct handover_or_anything<Plugin> {
  using type = typename Plugin::handover;
};

/// Checks what put<P>() and get<P>() need of `Plugin`, with one plain error for the first thing
/// missing. Called in the condition of an `if constexpr`, so that a failed check adds no second
/// error from the code it guards.
template <class Plugin>
constexpr bool checked() {
  if constexpr (!named<Plugin>) {
    static_assert(always_false<Plugin>,
                  "cluster: restart_state put<P>() and get<P>() take a plugin type P, a class with "
                  "'static constexpr cluster::fixed_string name' (its name keys its part of the "
                  "state); see docs/restart.md");
    return false;
  } else if constexpr (!has_handover<Plugin>) {
    static_assert(always_false<Plugin>,
                  "cluster: this plugin declares no handover type; add 'struct handover { ... };' "
                  "to the plugin, with what it hands to the new master; see docs/restart.md");
    return false;
  } else if constexpr (!has_handover_version<Plugin>) {
    static_assert(always_false<Plugin>,
                  "cluster: this plugin declares no handover_version; add 'static constexpr "
                  "std::uint32_t handover_version = 1;' to the plugin, and raise it whenever its "
                  "handover type changes; see docs/restart.md");
    return false;
  } else {
    constexpr refusal why = refusal_of<typename Plugin::handover>();
    if constexpr (why == refusal::other) {
      static_assert(always_false<Plugin>,
                    "cluster: a plugin's handover type must be an aggregate of numbers, enums, "
                    "bools, std::string, std::vector, std::optional, std::array, std::pair or such "
                    "aggregates (no pointers, no C arrays); see docs/restart.md");
      return false;
    } else if constexpr (why == refusal::const_or_reference) {
      static_assert(always_false<Plugin>,
                    "cluster: a plugin's handover type must not have const or reference members, "
                    "since the new master rebuilds it member by member; see docs/restart.md");
      return false;
    } else if constexpr (why == refusal::base_class) {
      static_assert(always_false<Plugin>,
                    "cluster: a plugin's handover type must not have a base class; make the base "
                    "a member instead; see docs/restart.md");
      return false;
    } else if constexpr (why == refusal::loose_enum) {
      static_assert(always_false<Plugin>,
                    "cluster: an enum in a plugin's handover type needs a fixed underlying type, "
                    "e.g. 'enum class mode' or 'enum mode : int', so that every value read back "
                    "is valid; see docs/restart.md");
      return false;
    } else if constexpr (why == refusal::itself) {
      static_assert(always_false<Plugin>,
                    "cluster: a plugin's handover type must not contain itself (e.g. a "
                    "std::vector of itself); see docs/restart.md");
      return false;
    } else {
      return true;
    }
  }
}

}  // namespace cluster::detail::wire

namespace cluster {

/// What `restart_state::put<Plugin>()` takes and `get<Plugin>()` gives back: `Plugin::handover`.
///
/// A public name, so that the signature a plugin author reads in a tooltip or an error names the
/// plugin's own type and nothing private.
template <class Plugin>
using handover_of = typename detail::wire::handover_or_anything<Plugin>::type;

/// What plugins hand from the old master to the new one when the master restarts (SIGUSR2).
///
/// In `events::restarting` each plugin stores its part with `put<Plugin>(value)`; the old master
/// sends `serialize()` to its successor, which `parse`s it and emits `events::restart`, where each
/// plugin reads its part back with `get<Plugin>()`. The successor may be a different build, so
/// each part carries the plugin's `handover_version` and a fingerprint of its `handover` type's
/// structure: a part this build cannot read is refused, never misread.
///
/// *Requires* of a plugin that hands state over: `static constexpr cluster::fixed_string name`,
/// `struct handover { ... };` (an aggregate of numbers, enums, bools, std::string, std::vector,
/// std::optional, std::array, std::pair, and such aggregates) and
/// `static constexpr std::uint32_t handover_version`. Missing any of them, or a handover type
/// that cannot be written, is a compile error in one line.
///
/// *Example:*
/// ```cpp
/// struct counter {
///   static constexpr cluster::fixed_string name = "counter";
///   struct handover { std::uint64_t served; std::string note; };
///   static constexpr std::uint32_t handover_version = 1;
///   std::uint64_t served = 0;
///   template <class Master> void on(cluster::events::restarting const& ev, Master&) {
///     ev.state.put<counter>({served, "ok"});
///   }
///   template <class Master> void on(cluster::events::restart const& ev, Master&) {
///     if (auto h = ev.state.get<counter>()) served = h->served;
///   }
/// };
/// ```
/// See docs/restart.md.
class restart_state {
 public:
  /// Stores `Plugin`'s part, replacing one stored before: call it in
  /// `on(events::restarting const&, Master&)`. The parameter is `Plugin::handover`
  /// (`handover_of<Plugin>`).
  ///
  /// *Errors:* a `Plugin` without `name`, `handover` or `handover_version`, or a handover type
  /// that cannot be written, does not compile (see docs/errors.md).
  template <class Plugin>
  void put([[maybe_unused]] handover_of<Plugin> const& value) {
    if constexpr (detail::wire::checked<Plugin>()) {
      std::string payload;
      detail::wire::write(payload, value);
      store(Plugin::name.view(), static_cast<std::uint32_t>(Plugin::handover_version),
            detail::wire::fingerprint<typename Plugin::handover>, std::move(payload));
    }
  }

  /// `Plugin`'s part, as its `Plugin::handover`: call it in `on(events::restart const&, Master&)`.
  ///
  /// Empty when the old master handed none, or handed one this build cannot read: another
  /// handover_version, the same version with another layout, or bytes that do not read as this
  /// build's type. In those cases a one-line explanation is added to problems().
  template <class Plugin>
  [[nodiscard]] std::optional<handover_of<Plugin>> get() const {
    if constexpr (!detail::wire::checked<Plugin>()) {
      return std::nullopt;
    } else {
      using handover = typename Plugin::handover;
      std::string_view const name = Plugin::name.view();
      constexpr auto version = static_cast<std::uint32_t>(Plugin::handover_version);
      part const* found = find(name);
      if (found == nullptr) return std::nullopt;
      if (found->version != version) {
        note("cluster: restart: the previous master handed plugin \"" + std::string(name) +
             "\" its state in handover version " + std::to_string(found->version) +
             "; this build reads version " + std::to_string(version) +
             ", so the plugin starts without it");
        return std::nullopt;
      }
      if (found->fingerprint != detail::wire::fingerprint<handover>) {
        note("cluster: restart: the previous master handed plugin \"" + std::string(name) +
             "\" its state in handover version " + std::to_string(found->version) +
             " but with another layout than this build's version " + std::to_string(version) +
             " (its handover type changed without a new handover_version), so the plugin starts "
             "without it");
        return std::nullopt;
      }
      handover value{};
      detail::wire::reader in(found->payload);
      in.read(value);
      if (!in.ok() || in.left() != 0) {
        note("cluster: restart: the previous master's state for plugin \"" + std::string(name) +
             "\" (handover version " + std::to_string(version) +
             ") does not read as this build's handover type, so the plugin starts without it");
        return std::nullopt;
      }
      return value;
    }
  }

  /// True when no plugin stored a part (or the predecessor's state was refused).
  [[nodiscard]] bool empty() const noexcept { return parts_.empty(); }

  /// The bytes the old master writes for its successor (the layout is in docs/restart.md).
  [[nodiscard]] std::string serialize() const {
    std::string out;
    out.append(detail::wire::magic);
    detail::wire::put_uint(out, detail::wire::format_version);
    detail::wire::put_uint(out, static_cast<std::uint32_t>(parts_.size()));
    for (part const& p : parts_) {
      detail::wire::write(out, p.name);
      detail::wire::put_uint(out, p.version);
      detail::wire::put_uint(out, p.fingerprint);
      detail::wire::write(out, p.payload);
    }
    return out;
  }

  /// Reads what a predecessor's serialize() wrote.
  ///
  /// Bad input never throws, crashes or reads past `bytes`: garbage, a truncated state, an
  /// unknown format, a duplicate part or trailing bytes give an empty state and one line in
  /// problems(). All or nothing: a state that is not well formed throughout is not believed in
  /// part. Each part's payload is checked later, by get().
  [[nodiscard]] static restart_state parse(std::string_view bytes) {
    namespace wire = detail::wire;
    auto refused = [](std::string const& what) {
      restart_state none;
      none.problems_.push_back("cluster: restart: the previous master's state " + what +
                               ", so this master starts without it");
      return none;
    };
    std::string const end = "ends too early (at byte " + std::to_string(bytes.size()) + ", inside ";
    if (bytes.empty()) return refused("is empty");
    if (bytes.substr(0, wire::magic.size()) != wire::magic.substr(0, bytes.size()))
      return refused("does not start with the marker of a cluster restart state");

    wire::reader in(bytes);
    std::uint32_t format = 0;
    std::uint32_t count = 0;
    in.skip(wire::magic.size());
    in.uint(format);
    if (in.ok() && format != wire::format_version)
      return refused("is in format " + std::to_string(format) + "; this build reads format " +
                     std::to_string(wire::format_version));
    in.uint(count);
    if (!in.ok()) return refused(end + "the header)");

    restart_state state;
    // The count is not trusted with memory: no more parts than the rest could hold. (Spelt out,
    // not std::min: <algorithm> alone would add a sixth to what every plugin header parses.)
    std::size_t const room = in.left() / wire::min_part_size;
    state.parts_.reserve(count < room ? count : room);
    for (std::uint32_t i = 0; i != count; ++i) {
      part p;
      in.read(p.name);
      in.uint(p.version);
      in.uint(p.fingerprint);
      in.read(p.payload);
      if (!in.ok())
        return refused(end + "part " + std::to_string(i + 1) + " of " + std::to_string(count) +
                       ")");
      if (state.find(p.name) != nullptr) return refused("holds two parts under one plugin name");
      state.parts_.push_back(std::move(p));
    }
    if (in.left() != 0)
      return refused("has " + std::to_string(in.left()) + " unexpected bytes after its last part");
    return state;
  }

  /// One line per thing refused: the predecessor's state as a whole (by parse) or a plugin's part
  /// (by get). The master prints them on stderr after emitting `events::restart`.
  [[nodiscard]] std::vector<std::string> const& problems() const noexcept { return problems_; }

 private:
  struct part {
    std::string name;
    std::uint32_t version = 0;
    std::uint64_t fingerprint = 0;
    std::string payload;
  };

  [[nodiscard]] part const* find(std::string_view name) const noexcept {
    for (part const& p : parts_)
      if (p.name == name) return &p;
    return nullptr;
  }

  void store(std::string_view name, std::uint32_t version, std::uint64_t fingerprint,
             std::string payload) {
    for (part& p : parts_) {
      if (p.name == name) {
        p = part{std::string(name), version, fingerprint, std::move(payload)};
        return;
      }
    }
    parts_.push_back(part{std::string(name), version, fingerprint, std::move(payload)});
  }

  /// Records a problem once, however often a plugin asks for the part it concerns.
  void note(std::string line) const {
    for (std::string const& known : problems_)
      if (known == line) return;
    problems_.push_back(std::move(line));
  }

  // Parts are few (one per plugin that hands something over): a vector keeps them in the order
  // they were put, which keeps serialize() deterministic, and a linear search is cheapest.
  std::vector<part> parts_;
  // get() is const because plugins see the state through `events::restart`'s const reference;
  // what it refuses is still worth telling, and the master reads it after the event.
  mutable std::vector<std::string> problems_;
};

}  // namespace cluster
