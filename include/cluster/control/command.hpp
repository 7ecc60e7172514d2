// SPDX-License-Identifier: BSL-1.0
// A command of the control socket and the console that is not built in: one the program declares
// (`cli{}.command<...>()`) or one a plugin contributes (`stats`), type-erased so that the
// server and the client are compiled once.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace cluster {

class master_api;

namespace detail::control {

/// A command of the program's own or of a plugin, as the control socket runs it: its words
/// checked against the handler's parameter types, then the handler called.
struct user_command {
  std::string_view name;
  std::string_view arguments;  ///< as `--help` shows them: "NAME COUNT"
  std::string_view description;
  std::size_t count = 0;  ///< how many arguments it takes
  /// Runs the command in the master: the text of the `ok` reply. Throws `std::invalid_argument`
  /// for an argument that does not fit its type, anything else for a failure (its `what()` is
  /// the `error` reply).
  std::function<std::string(master_api&, std::vector<std::string> const&)> run;
};

}  // namespace detail::control

}  // namespace cluster
