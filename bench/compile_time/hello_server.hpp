// SPDX-License-Identifier: BSL-1.0
// A server declared here and defined in handler_tu.cpp: what a program includes to run a server
// whose handler lives in another translation unit. cluster needs the type complete (it
// default-constructs one in each worker and checks for a member `handle`), not the definition of
// `handle`, so editing the handler never recompiles the main translation unit.
#pragma once

#include "http_types.hpp"

struct hello {
  bench::response handle(bench::request const& req);
};
