// SPDX-License-Identifier: BSL-1.0
// The worker channel keeps message boundaries, bounds the text and reports the peer's close.
#include <cluster/ipc/channel.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace cluster;

TEST_CASE("messages arrive whole and in order") {
  auto [master_end, worker_end] = ipc::make_channel();
  REQUIRE(ipc::send(worker_end.get(), {ipc::message_type::connected, 0, {}}));
  REQUIRE(ipc::send(worker_end.get(), {ipc::message_type::exception, 0, "boom"}));
  REQUIRE(ipc::send(worker_end.get(), {ipc::message_type::waiting, 7, {}}));
  ipc::message m;
  REQUIRE(ipc::receive(master_end.get(), m) == ipc::receive_status::message);
  CHECK(m.type == ipc::message_type::connected);
  REQUIRE(ipc::receive(master_end.get(), m) == ipc::receive_status::message);
  CHECK(m.type == ipc::message_type::exception);
  CHECK(m.text == "boom");
  REQUIRE(ipc::receive(master_end.get(), m) == ipc::receive_status::message);
  CHECK(m.type == ipc::message_type::waiting);
  CHECK(m.value == 7);
  CHECK(ipc::receive(master_end.get(), m) == ipc::receive_status::empty);
}

TEST_CASE("long texts are cut, and a closed peer reads as closed") {
  auto [master_end, worker_end] = ipc::make_channel();
  REQUIRE(ipc::send(worker_end.get(), {ipc::message_type::exception, 0, std::string(10000, 'x')}));
  worker_end.reset();
  ipc::message m;
  REQUIRE(ipc::receive(master_end.get(), m) == ipc::receive_status::message);
  CHECK(m.text.size() == ipc::max_text);
  CHECK(ipc::receive(master_end.get(), m) == ipc::receive_status::closed);
}
