// SPDX-License-Identifier: BSL-1.0
// The scoreboard's record of the request in flight: what the master reads of a hung worker.
#include <cluster/ipc/scoreboard.hpp>
#include <cluster/os/address.hpp>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

using namespace cluster;

namespace {
sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return in;
}
}  // namespace

TEST_CASE("the request whose handler runs is recorded, with its client, until it returns") {
  ipc::scoreboard board(2);
  auto& slot = board[*board.acquire()];
  CHECK_FALSE(ipc::read_activity(slot).has_value());
  auto const client = loopback(51234);
  auto const serial = ipc::enter_request(slot, "GET", "/report?year=2026", &client, sizeof client);
  auto const a = ipc::read_activity(slot);
  REQUIRE(a.has_value());
  CHECK(a->request == "GET /report?year=2026");
  CHECK(a->since > 0);
  CHECK(os::address_text(reinterpret_cast<sockaddr const*>(a->client.data()), a->client.size()) ==
        "127.0.0.1:51234");
  ipc::leave_request(slot, serial);
  CHECK_FALSE(ipc::read_activity(slot).has_value());
}

TEST_CASE("an earlier request's end does not clear a later one's record") {
  ipc::scoreboard board(1);
  auto& slot = board[*board.acquire()];
  auto const first = ipc::enter_request(slot, "GET", "/a", nullptr, 0);
  auto const second = ipc::enter_request(slot, "POST", "/b", nullptr, 0);
  ipc::leave_request(slot, first);
  auto const a = ipc::read_activity(slot);
  REQUIRE(a.has_value());
  CHECK(a->request == "POST /b");
  ipc::leave_request(slot, second);
  CHECK_FALSE(ipc::read_activity(slot).has_value());
}

TEST_CASE("a long target is cut to the slot, never beyond it") {
  ipc::scoreboard board(1);
  auto& slot = board[*board.acquire()];
  std::string const target = "/" + std::string(500, 'x');
  ipc::enter_request(slot, "DELETE", target, nullptr, 0);
  auto const a = ipc::read_activity(slot);
  REQUIRE(a.has_value());
  CHECK(a->request.size() == ipc::busy_request_bytes);
  CHECK(a->request.starts_with("DELETE /xxx"));
}

TEST_CASE("a slot handed to a new worker holds no request and no trace request") {
  ipc::scoreboard board(1);
  auto const i = *board.acquire();
  ipc::enter_request(board[i], "GET", "/", nullptr, 0);
  board[i].trace_requested.store(1);
  board.release(i);
  auto const again = *board.acquire();
  CHECK_FALSE(ipc::read_activity(board[again]).has_value());
  CHECK(board[again].trace_requested.load() == 0);
}

TEST_CASE("a request's deadline is recorded with it, and the next request's replaces it") {
  ipc::scoreboard board(1);
  auto& slot = board[*board.acquire()];
  auto const first = ipc::enter_request(slot, "GET", "/report", nullptr, 0, 10000);
  CHECK(slot.busy_deadline.load() == 10000);
  ipc::leave_request(slot, first);
  (void)ipc::enter_request(slot, "POST", "/upload", nullptr, 0);  // a route without a deadline
  CHECK(slot.busy_deadline.load() == 0);
}
