// SPDX-License-Identifier: BSL-1.0
// Everything a plugin author needs: events, the master's contract (master/api.hpp), the
// configuration concepts and the settings. Never the master itself.
#pragma once

#include "config/concepts.hpp"
#include "config/fixed_string.hpp"
#include "config/settings.hpp"
#include "events.hpp"
#include "master/api.hpp"
#include "os/startup_error.hpp"
#include "restart_state.hpp"
#include "signals.hpp"
#include "this_worker.hpp"
