// SPDX-License-Identifier: BSL-1.0
// Compile-time baseline: realistic.cpp's handler served by a hand-written Beast server, in one
// translation unit.
#include "beast_server.hpp"
#include "handler.hpp"

int main() {
  return bench::serve_by_hand([](bench::request const& req) { return bench::answer(req); });
}
