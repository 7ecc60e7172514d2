// SPDX-License-Identifier: BSL-1.0
// The umbrella header: the configuration model and the master; HTTP servers add server/http.hpp.
#pragma once

#include "config.hpp"
#include "master.hpp"
