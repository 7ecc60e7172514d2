// SPDX-License-Identifier: BSL-1.0
// The umbrella header: everything a user of cluster needs.
#pragma once

#include "config.hpp"
