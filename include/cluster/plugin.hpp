// SPDX-License-Identifier: BSL-1.0
// Everything a plugin author needs: events, the configuration concepts and the settings.
#pragma once

#include "config/concepts.hpp"
#include "config/fixed_string.hpp"
#include "config/settings.hpp"
#include "events.hpp"
#include "os/startup_error.hpp"
#include "restart_state.hpp"
#include "this_worker.hpp"
