// SPDX-License-Identifier: BSL-1.0
// The compile-time configuration model alone: no Asio, no Beast, no system calls at compile time.
#pragma once

#include "config/builder.hpp"
#include "config/concepts.hpp"
#include "config/core_settings.hpp"
#include "config/fixed_string.hpp"
#include "config/resolve.hpp"
#include "config/settings.hpp"
#include "events.hpp"
