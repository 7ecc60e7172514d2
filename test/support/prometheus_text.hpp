// SPDX-License-Identifier: BSL-1.0
// A strict checker of the Prometheus text exposition format 0.0.4, for the tests of `stats`.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cluster::testing {

/// One parsed sample line.
struct prometheus_sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  ///< unescaped, in order
  double value = 0;
};

/// The result of `check_prometheus`: the problems found (empty: valid) and the samples read.
struct prometheus_check {
  std::vector<std::string> problems;
  std::vector<prometheus_sample> samples;

  [[nodiscard]] bool ok() const { return problems.empty(); }

  /// The value of the sample `name` with exactly these labels (any order), if there is one.
  [[nodiscard]] std::optional<double> value(
      std::string const& name, std::vector<std::pair<std::string, std::string>> labels = {}) const {
    std::sort(labels.begin(), labels.end());
    for (auto const& s : samples) {
      auto l = s.labels;
      std::sort(l.begin(), l.end());
      if (s.name == name && l == labels) return s.value;
    }
    return std::nullopt;
  }

  /// The sum of every sample named `name`.
  [[nodiscard]] double sum(std::string const& name) const {
    double total = 0;
    for (auto const& s : samples)
      if (s.name == name) total += s.value;
    return total;
  }

  /// The samples named `name`.
  [[nodiscard]] std::vector<prometheus_sample> all(std::string const& name) const {
    std::vector<prometheus_sample> out;
    for (auto const& s : samples)
      if (s.name == name) out.push_back(s);
    return out;
  }

  /// The value of label `label` in `s`, or "".
  static std::string label(prometheus_sample const& s, std::string const& label) {
    for (auto const& [k, v] : s.labels)
      if (k == label) return v;
    return {};
  }
};

/// Checks `text` strictly against the text format 0.0.4: every line is `# HELP name text`,
/// `# TYPE name type` or a sample `name{label="value",...} value [timestamp]`; names match
/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*` (not `__` reserved); each
/// family has exactly one HELP and one TYPE, both before its samples, and its samples are
/// contiguous; counters end in `_total`; no series appears twice; the text ends with a newline; no
/// blank or other comment lines.
inline prometheus_check check_prometheus(std::string_view text) {
  prometheus_check out;
  auto problem = [&](std::size_t line, std::string const& what) {
    out.problems.push_back("line " + std::to_string(line) + ": " + what);
  };
  static std::regex const metric_name(R"([a-zA-Z_:][a-zA-Z0-9_:]*)");
  static std::regex const label_name(R"([a-zA-Z_][a-zA-Z0-9_]*)");
  static std::regex const number(
      R"([-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|Inf|inf)|NaN)");
  static std::regex const timestamp(R"(-?[0-9]+)");
  static std::set<std::string> const types{"counter", "gauge", "histogram", "summary", "untyped"};

  if (text.empty()) {
    out.problems.emplace_back("empty exposition");
    return out;
  }
  if (text.back() != '\n') out.problems.emplace_back("the text does not end with a newline");

  struct family {
    bool help = false;
    std::string type;
    bool sampled = false;
    bool closed = false;  ///< another family's samples came after this one's
  };
  std::map<std::string, family> families;
  std::string current;  // the family whose samples are being read
  std::set<std::string> series;

  auto family_of = [&](std::string const& sample_name) -> std::string {
    if (families.count(sample_name)) return sample_name;
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (sample_name.size() > suffix.size() && sample_name.ends_with(suffix)) {
        std::string const base = sample_name.substr(0, sample_name.size() - suffix.size());
        auto it = families.find(base);
        if (it != families.end() &&
            (it->second.type == "histogram" || it->second.type == "summary"))
          return base;
      }
    }
    return sample_name;
  };

  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto const nl = text.find('\n', pos);
    std::string const line(text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (line.empty()) {
      problem(line_no, "blank line");
      continue;
    }
    if (line[0] == '#') {
      bool const help = line.starts_with("# HELP ");
      bool const type = line.starts_with("# TYPE ");
      if (!help && !type) {
        problem(line_no, "a comment other than HELP or TYPE: " + line);
        continue;
      }
      std::string const rest = line.substr(7);
      auto const sp = rest.find(' ');
      std::string const name = rest.substr(0, sp);
      std::string const arg = sp == std::string::npos ? std::string() : rest.substr(sp + 1);
      if (!std::regex_match(name, metric_name)) problem(line_no, "bad metric name: " + name);
      family& f = families[name];
      if (f.sampled) problem(line_no, name + ": HELP or TYPE after its samples");
      if (help) {
        if (f.help) problem(line_no, name + ": second HELP");
        if (arg.empty()) problem(line_no, name + ": empty HELP");
        f.help = true;
      } else {
        if (!f.type.empty()) problem(line_no, name + ": second TYPE");
        if (!types.count(arg)) problem(line_no, name + ": unknown TYPE " + arg);
        f.type = arg;
        if (arg == "counter" && !name.ends_with("_total"))
          problem(line_no, name + ": a counter's name must end in _total");
      }
      continue;
    }
    // A sample: name, optional labels, a space, the value, an optional timestamp.
    prometheus_sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!std::regex_match(s.name, metric_name)) {
      problem(line_no, "bad metric name: " + s.name);
      continue;
    }
    bool bad = false;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (!bad && i < line.size() && line[i] != '}') {
        auto const eq = line.find('=', i);
        if (eq == std::string::npos) {
          bad = true;
          break;
        }
        std::string const key = line.substr(i, eq - i);
        if (!std::regex_match(key, label_name) || key.starts_with("__")) {
          problem(line_no, "bad label name: " + key);
          bad = true;
          break;
        }
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') {
          bad = true;
          break;
        }
        ++i;
        std::string value;
        for (; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\') {
            if (i + 1 >= line.size()) break;
            char const e = line[++i];
            if (e == '\\' || e == '"') {
              value += e;
            } else if (e == 'n') {
              value += '\n';
            } else {
              problem(line_no, "bad escape in a label value");
              bad = true;
            }
          } else {
            value += line[i];
          }
        }
        if (i >= line.size()) {
          bad = true;
          break;
        }
        ++i;  // the closing quote
        for (auto const& [k, v] : s.labels)
          if (k == key) problem(line_no, "label " + key + " twice");
        s.labels.emplace_back(key, value);
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (bad || i >= line.size()) {
        problem(line_no, "malformed labels: " + line);
        continue;
      }
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') {
      problem(line_no, "no space before the value: " + line);
      continue;
    }
    std::string const rest = line.substr(i + 1);
    auto const sp = rest.find(' ');
    std::string const value = rest.substr(0, sp);
    if (!std::regex_match(value, number)) {
      problem(line_no, "bad value: " + value);
      continue;
    }
    if (sp != std::string::npos && !std::regex_match(rest.substr(sp + 1), timestamp)) {
      problem(line_no, "bad timestamp: " + rest.substr(sp + 1));
      continue;
    }
    s.value = value == "NaN" ? 0 : std::stod(value);

    std::string const fam = family_of(s.name);
    auto it = families.find(fam);
    if (it == families.end() || !it->second.help || it->second.type.empty()) {
      problem(line_no, s.name + ": a sample before its family's HELP and TYPE");
    } else {
      if (it->second.closed) problem(line_no, s.name + ": the family's samples are not together");
      it->second.sampled = true;
    }
    if (!current.empty() && current != fam) {
      auto prev = families.find(current);
      if (prev != families.end()) prev->second.closed = true;
    }
    current = fam;
    auto sorted = s.labels;
    std::sort(sorted.begin(), sorted.end());
    std::string key = s.name;
    for (auto const& [k, v] : sorted) key += "\x1f" + k + "=" + v;
    if (!series.insert(key).second) problem(line_no, "duplicate series: " + line);
    out.samples.push_back(std::move(s));
  }
  return out;
}

}  // namespace cluster::testing
