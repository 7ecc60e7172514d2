// SPDX-License-Identifier: BSL-1.0
// The baseline split like realistic_main.cpp: the server declared in hello_server.hpp, its
// handler compiled in handler_tu.cpp.
#include "beast_server.hpp"
#include "hello_server.hpp"

int main() {
  hello server;
  return bench::serve_by_hand([&server](bench::request const& req) { return server.handle(req); });
}
