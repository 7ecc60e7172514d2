// SPDX-License-Identifier: BSL-1.0
// The handler's own translation unit: Beast's message types and the handler, nothing of cluster.
// Both split programs (realistic_main.cpp and beast_baseline_main.cpp) link this same object, so
// an edit here costs each of them this compilation and a link.
#include "handler.hpp"
#include "hello_server.hpp"

bench::response hello::handle(bench::request const& req) { return bench::answer(req); }
