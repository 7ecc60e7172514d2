// SPDX-License-Identifier: BSL-1.0
// The control socket's wire format: requests as the master reads them, replies as the client
// reads them, and the JSON strings of the status document.
#include <cluster/control/protocol.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace control = cluster::control;

TEST_CASE("a request line reads back as its command and arguments") {
  std::string const line = control::format_request("spawn", {"-2"});
  CHECK(line == "cluster-control 2 spawn -2\n");
  auto const parsed = control::parse_request(line.substr(0, line.size() - 1));
  REQUIRE(parsed.value);
  CHECK(parsed.value->command == "spawn");
  CHECK(parsed.value->arguments == std::vector<std::string>{"-2"});
  // Extra blanks and a CR (a client such as socat or telnet) change nothing.
  auto const loose = control::parse_request("  cluster-control  2   status  \r");
  REQUIRE(loose.value);
  CHECK(loose.value->command == "status");
  CHECK(loose.value->arguments.empty());
}

TEST_CASE("a request that is not this protocol, or another version of it, is refused in words") {
  CHECK(control::parse_request("").error.starts_with("not a cluster-control request"));
  CHECK(control::parse_request("GET / HTTP/1.1").error.starts_with("not a cluster-control"));
  CHECK(control::parse_request("cluster-control").error == "the request has no protocol version");
  CHECK(control::parse_request("cluster-control x status").error ==
        "the request has no protocol version");
  CHECK(control::parse_request("cluster-control 2x status").error ==
        "the request has no protocol version");
  CHECK(control::parse_request("cluster-control 99999999999999999999 status").error ==
        "the request has no protocol version");
  CHECK(control::parse_request("cluster-control 1 status").error ==
        "this master speaks cluster-control 2, the client 1: use the control tool of the build "
        "the master runs");
  CHECK(control::parse_request("cluster-control 2").error == "the request names no command");
  CHECK(control::parse_request(std::string("cluster-control 2 st\0atus", 24)).error ==
        "the request holds a control character");
  CHECK(control::parse_request("cluster-control 2 status\x7f").error ==
        "the request holds a control character");
}

TEST_CASE("reply lines: progress, then ok or error, one line each") {
  CHECK(control::format_reply(control::reply_kind::progress, "shutting down") ==
        "progress shutting down\n");
  CHECK(control::format_reply(control::reply_kind::ok, "") == "ok\n");
  // A newline in the text cannot end the line early: it is escaped, and read back.
  CHECK(control::format_reply(control::reply_kind::error, "a\nb\r\nc\\n") ==
        "error a\\nb\\nc\\\\n\n");
  auto const lines = control::parse_reply("ok a\\nb\\nc\\\\n \\x");
  REQUIRE(lines);
  CHECK(lines->text == "a\nb\nc\\n \\x");
  auto const ok = control::parse_reply("ok {\"a\":1}");
  REQUIRE(ok);
  CHECK(ok->kind == control::reply_kind::ok);
  CHECK(ok->text == "{\"a\":1}");
  auto const bare = control::parse_reply("ok");
  REQUIRE(bare);
  CHECK(bare->text.empty());
  CHECK(control::parse_reply("progress x")->kind == control::reply_kind::progress);
  CHECK(control::parse_reply("error x")->kind == control::reply_kind::error);
  // What another protocol would say is not a reply.
  CHECK_FALSE(control::parse_reply("OK done"));
  CHECK_FALSE(control::parse_reply("HTTP/1.1 400 Bad Request"));
}

TEST_CASE("JSON strings escape what JSON requires") {
  CHECK(control::json_string("plain") == "\"plain\"");
  CHECK(control::json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(control::json_string("line\nnext\ttab\r") == "\"line\\nnext\\ttab\\r\"");
  CHECK(control::json_string(std::string("\x01\x1f", 2)) == "\"\\u0001\\u001f\"");
  CHECK(control::json_string("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
}

TEST_CASE("a request line is read whole however the bytes arrive, and refused when too long") {
  using status = control::request_reader::status;
  control::request_reader split;
  CHECK(split.feed("cluster-con") == status::incomplete);
  CHECK(split.feed("trol 2 sta") == status::incomplete);
  CHECK(split.feed("tus\nignored after the line") == status::complete);
  CHECK(split.line() == "cluster-control 2 status");
  CHECK(split.feed("more") == status::complete);  // one request per connection

  // The longest accepted line has max_request bytes with its newline.
  control::request_reader longest;
  CHECK(longest.feed(std::string(control::max_request - 1, 'x') + "\n") == status::complete);
  control::request_reader too_long;
  CHECK(too_long.feed(std::string(control::max_request - 1, 'x')) == status::incomplete);
  CHECK(too_long.feed("x") == status::too_long);
  CHECK(too_long.feed("\n") == status::too_long);
  CHECK(too_long.line().empty());
  control::request_reader at_once;
  CHECK(at_once.feed(std::string(control::max_request, 'x') + "\n") == status::too_long);
}

namespace {

/// The command and arguments of a console line, as "command|arg|arg", or "!" and the error.
std::string console(std::string_view line) {
  auto const parsed = control::parse_console_line(line);
  if (!parsed.value) return "!" + parsed.error;
  std::string out = parsed.value->command;
  for (auto const& a : parsed.value->arguments) out += "|" + a;
  return out;
}

}  // namespace

TEST_CASE("a console line: a name with arguments after blanks or in parentheses") {
  CHECK(console("status") == "status");
  CHECK(console("  status  ") == "status");
  CHECK(console("status()") == "status");
  CHECK(console("status();") == "status");
  CHECK(console("spawn 2") == "spawn|2");
  CHECK(console("spawn(2)") == "spawn|2");
  CHECK(console("spawn (2) ;") == "spawn|2");
  CHECK(console("kill(1, KILL)") == "kill|1|KILL");
  CHECK(console("kill\t1\tKILL") == "kill|1|KILL");
  CHECK(console("greet(\"Ada Lovelace\", 'x, y')") == "greet|Ada Lovelace|x, y");
  CHECK(console("greet 'Ada Lovelace' \"\"") == "greet|Ada Lovelace|");
  CHECK(console("") == "");
  CHECK(console("   ;") == "");
}

TEST_CASE("a console line that is not a command call is refused in words, never evaluated") {
  CHECK(console("spawn(2") == "!a '(' is not closed");
  CHECK(console("spawn(2) now") == "!nothing may follow the closing ')'");
  CHECK(console("kill(1 2)") == "!arguments are separated by ','");
  CHECK(console("kill(,1)") == "!an argument is missing before ','");
  CHECK(console("kill(1,)") == "!an argument is missing after ','");
  CHECK(console("kill 1, 2").starts_with("!unexpected ','"));
  CHECK(console("greet(\"x)") == "!a quote is not closed");
  CHECK(console("eval(f(x))") == "!unexpected '(' in an argument");
  CHECK(console("(1)") == "!the line names no command");
  CHECK(console(std::string("status\x1b[A")) == "!the line holds a control character");
  CHECK(console(std::string("a\0b", 3)) == "!the line holds a control character");
}

TEST_CASE(
    "console lines are split however the bytes arrive, and a line too long stops the reader") {
  control::line_reader r;
  r.feed("sta");
  CHECK_FALSE(r.next());
  r.feed("tus\r\nspawn(1)\npi");
  CHECK(r.next() == "status");
  CHECK(r.next() == "spawn(1)");
  CHECK_FALSE(r.next());
  r.feed("ds\n");
  CHECK(r.next() == "pids");
  CHECK_FALSE(r.too_long());

  control::line_reader longest;
  longest.feed(std::string(control::max_request - 1, 'x') + "\n");
  CHECK(longest.next() == std::string(control::max_request - 1, 'x'));
  control::line_reader too_long;
  too_long.feed(std::string(control::max_request, 'x'));
  CHECK_FALSE(too_long.next());
  CHECK(too_long.too_long());
  too_long.feed("\nstatus\n");
  CHECK_FALSE(too_long.next());
}
