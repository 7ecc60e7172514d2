// SPDX-License-Identifier: BSL-1.0
// The control socket's wire format, shared by the master (which answers) and the program run as
// its own control tool (which asks): one request line, then reply lines.
#pragma once

#include <charconv>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace cluster::control {

/// The protocol's version. A master and a client of different versions tell each other so in
/// one line instead of misreading each other. Version 2: reply texts may hold several lines,
/// escaped.
inline constexpr unsigned version = 2;

/// The first word of every request.
inline constexpr std::string_view magic = "cluster-control";

/// The longest request line, its newline included. A longer one is refused unread.
inline constexpr std::size_t max_request = 1024;

/// The longest reply line a client accepts (a status of thousands of workers fits).
inline constexpr std::size_t max_reply = std::size_t{4} << 20U;

/// A request, as the master reads it: `cluster-control 2 <command> [<argument>...]\n`.
struct request {
  std::string command;
  std::vector<std::string> arguments;
};

/// The request line for `command` and `arguments` (words without blanks), newline included.
inline std::string format_request(std::string_view command,
                                  std::vector<std::string> const& arguments = {}) {
  std::string line(magic);
  line += ' ';
  line += std::to_string(version);
  line += ' ';
  line += command;
  for (auto const& a : arguments) {
    line += ' ';
    line += a;
  }
  line += '\n';
  return line;
}

/// What `parse_request` makes of a line: the request, or the one-line reason it is refused.
struct parsed_request {
  std::optional<request> value;
  std::string error;
};

/// The words of `text`, separated by runs of the characters in `blanks`.
inline std::vector<std::string_view> split_words(std::string_view text,
                                                 std::string_view blanks = " ") {
  std::vector<std::string_view> words;
  while (!text.empty()) {
    auto const start = text.find_first_not_of(blanks);
    if (start == std::string_view::npos) break;
    text.remove_prefix(start);
    auto const end = text.find_first_of(blanks);
    words.push_back(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end);
  }
  return words;
}

/// Reads a request line (without its newline). Refuses what is not this protocol, another
/// version of it, control characters and an empty command, each with a sentence for the client.
inline parsed_request parse_request(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  for (char const c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return {std::nullopt, "the request holds a control character"};
    }
  }
  auto const words = split_words(line);
  if (words.empty() || words[0] != magic) {
    return {std::nullopt, "not a cluster-control request (expected \"cluster-control " +
                              std::to_string(version) + " <command>\")"};
  }
  unsigned theirs = 0;
  auto const [end, ec] =
      words.size() < 2
          ? std::from_chars_result{nullptr, std::errc::invalid_argument}
          : std::from_chars(words[1].data(), words[1].data() + words[1].size(), theirs);
  if (ec != std::errc{} || end != words[1].data() + words[1].size()) {
    return {std::nullopt, "the request has no protocol version"};
  }
  if (theirs != version) {
    return {std::nullopt, "this master speaks cluster-control " + std::to_string(version) +
                              ", the client " + std::to_string(theirs) +
                              ": use the control tool of the build the master runs"};
  }
  if (words.size() < 3) return {std::nullopt, "the request names no command"};
  request r;
  r.command = std::string(words[2]);
  for (std::size_t i = 3; i < words.size(); ++i) r.arguments.emplace_back(words[i]);
  return {std::move(r), {}};
}

/// Collects a request line from what a client sends, however the bytes are split: the master
/// feeds it each read and acts once the line is complete, or refuses it once it is too long.
class request_reader {
 public:
  enum class status : unsigned char {
    incomplete,  ///< no newline yet: read more
    complete,    ///< `line()` holds the request, without its newline
    too_long,    ///< `max_request` bytes without a newline: refuse, read no more
  };

  /// Adds `bytes`; what is known now. Bytes after the newline are ignored (one request per
  /// connection).
  status feed(std::string_view bytes) {
    if (done_ != status::incomplete) return done_;
    auto const nl = bytes.find('\n');
    buffer_.append(bytes.substr(0, nl));
    if (nl != std::string_view::npos && buffer_.size() < max_request)
      return done_ = status::complete;
    if (buffer_.size() >= max_request) {
      buffer_.clear();
      return done_ = status::too_long;
    }
    return done_;
  }

  /// The request line, once `complete`.
  [[nodiscard]] std::string const& line() const noexcept { return buffer_; }

 private:
  std::string buffer_;
  status done_ = status::incomplete;
};

//=== the console ===//

/// The prompt the console prints when it waits for a line.
inline constexpr std::string_view prompt = "cluster> ";

/// Splits what a console client sends into lines, however the bytes are split, keeping what
/// follows a line for the next one. A line of `max_request` bytes or more is refused.
class line_reader {
 public:
  /// Adds `bytes`.
  void feed(std::string_view bytes) {
    if (!too_long_) buffer_.append(bytes);
  }

  /// The next complete line, without its newline (nor a `\r` before it); nothing while none is
  /// complete, or once a line was too long (`too_long()`).
  std::optional<std::string> next() {
    if (too_long_) return std::nullopt;
    auto const nl = buffer_.find('\n');
    if (nl == std::string::npos || nl >= max_request) {
      if (buffer_.size() >= max_request) {
        too_long_ = true;
        buffer_.clear();
      }
      return std::nullopt;
    }
    std::string line = buffer_.substr(0, nl);
    buffer_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }

  /// True once a line reached `max_request` bytes without a newline: read no more.
  [[nodiscard]] bool too_long() const noexcept { return too_long_; }

 private:
  std::string buffer_;
  bool too_long_ = false;
};

/// Reads a console line: `name`, `name arg arg` or `name(arg, arg)`, a trailing `;` allowed; an
/// argument may be quoted (`greet("Ada Lovelace")`, `greet 'Ada Lovelace'`). A blank line is a
/// request with an empty command. Control characters, an unclosed quote or parenthesis and text
/// after the closing parenthesis are refused with a sentence. Nothing is evaluated: the words
/// are looked up in the command table.
inline parsed_request parse_console_line(std::string_view line) {
  for (char const c : line) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
      return {std::nullopt, "the line holds a control character"};
  }
  auto const blank = [](char c) { return c == ' ' || c == '\t'; };
  auto const trim = [&](std::string_view& s) {
    while (!s.empty() && blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  };
  trim(line);
  if (!line.empty() && line.back() == ';') {
    line.remove_suffix(1);
    trim(line);
  }
  request r;
  std::size_t i = 0;
  while (i < line.size() && !blank(line[i]) && line[i] != '(') ++i;
  r.command = std::string(line.substr(0, i));
  line.remove_prefix(i);
  trim(line);
  bool const call = !line.empty() && line.front() == '(';
  if (call) {
    if (line.back() != ')') {
      return {std::nullopt, line.find(')') == std::string_view::npos
                                ? "a '(' is not closed"
                                : "nothing may follow the closing ')'"};
    }
    line = line.substr(1, line.size() - 2);
  }
  // The arguments: separated by blanks, or by commas in the call form; quotes keep blanks.
  while (true) {
    trim(line);
    if (line.empty()) break;
    std::string word;
    if (line.front() == '"' || line.front() == '\'') {
      auto const end = line.find(line.front(), 1);
      if (end == std::string_view::npos) return {std::nullopt, "a quote is not closed"};
      word = std::string(line.substr(1, end - 1));
      line.remove_prefix(end + 1);
    } else {
      std::size_t end = 0;
      while (end < line.size() && !blank(line[end]) && line[end] != ',') {
        char const c = line[end];
        if (c == '"' || c == '\'' || c == '(' || c == ')')
          return {std::nullopt, std::string("unexpected '") + c + "' in an argument"};
        ++end;
      }
      if (end == 0) return {std::nullopt, "an argument is missing before ','"};
      word = std::string(line.substr(0, end));
      line.remove_prefix(end);
    }
    r.arguments.push_back(std::move(word));
    trim(line);
    if (line.empty()) break;
    if (call) {
      if (line.front() != ',') return {std::nullopt, "arguments are separated by ','"};
      line.remove_prefix(1);
      trim(line);
      if (line.empty()) return {std::nullopt, "an argument is missing after ','"};
    } else if (line.front() == ',') {
      return {std::nullopt,
              "unexpected ',': arguments are separated by blanks, or write name(a, b)"};
    }
  }
  if (r.command.empty() && !r.arguments.empty()) return {std::nullopt, "the line names no command"};
  return {std::move(r), {}};
}

/// The kinds of reply line. A reply is any number of `progress` lines, then one `ok` or `error`
/// line; a command that ends with the master (shutdown, stop) ends with end-of-file instead.
enum class reply_kind : unsigned char { progress, ok, error };

/// A reply line: `progress <text>`, `ok <text>` or `error <text>`, newline included. The text is
/// escaped so that a line is a line: a newline is sent as `\n`, a backslash as `\\`, and a
/// carriage return is dropped.
inline std::string format_reply(reply_kind kind, std::string_view text) {
  std::string line = kind == reply_kind::progress ? "progress"
                     : kind == reply_kind::ok     ? "ok"
                                                  : "error";
  if (!text.empty()) {
    line += ' ';
    for (char const c : text) {
      if (c == '\n') {
        line += "\\n";
      } else if (c == '\\') {
        line += "\\\\";
      } else if (c != '\r') {
        line += c;
      }
    }
  }
  line += '\n';
  return line;
}

/// A reply line as read by the client (without its newline).
struct reply {
  reply_kind kind = reply_kind::error;
  std::string text;
};

/// Reads a reply line (its text unescaped); nothing when it is not one (a master of another
/// protocol).
inline std::optional<reply> parse_reply(std::string_view line) {
  auto const space = line.find(' ');
  std::string_view const word = line.substr(0, space);
  std::string_view const rest =
      space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
  reply r;
  if (word == "progress") {
    r.kind = reply_kind::progress;
  } else if (word == "ok") {
    r.kind = reply_kind::ok;
  } else if (word == "error") {
    r.kind = reply_kind::error;
  } else {
    return std::nullopt;
  }
  r.text.reserve(rest.size());
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '\\' && i + 1 < rest.size() && (rest[i + 1] == 'n' || rest[i + 1] == '\\')) {
      r.text += rest[i + 1] == 'n' ? '\n' : '\\';
      ++i;
    } else {
      r.text += rest[i];
    }
  }
  return r;
}

/// `text` as a JSON string, quotes included.
inline std::string json_string(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char const c : text) {
    auto const u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out += hex[u >> 4U];
          out += hex[u & 0xfU];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace cluster::control
