// SPDX-License-Identifier: BSL-1.0
// Which plugin fills a single-slot policy (the signal policy, the crash-loop policy) in a
// resolved configuration.
#pragma once

namespace cluster::detail {

/// The plugin of `Config` in the slot `Slot` (one with `using policy_slot = Slot;`), else
/// `Default`; `Default` too for a configuration that has no slots at all.
template <class Config, class Slot, class Default>
struct policy_in {
  using type = Default;
};
template <class Config, class Slot, class Default>
requires requires { typename Config::template slot_type<Slot, Default>; }
struct policy_in<Config, Slot, Default> {
  using type = typename Config::template slot_type<Slot, Default>;
};

}  // namespace cluster::detail
