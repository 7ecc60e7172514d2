// SPDX-License-Identifier: BSL-1.0
// A custom plugin: appends a line to a file when a worker dies too often, with settings of its own.
#pragma once

#include <cluster/os/process.hpp>
#include <cluster/plugin.hpp>
#include <cluster/plugins/pidfiles.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <deque>
#include <map>
#include <string>
#include <string_view>

//--- the plugin's own settings: `.set<"alarm deaths">(3)`, checked like the built-in keys ---//

/// The names of these functions are the compile errors for bad constants: they are declared and
/// never defined, so `.set<"alarm deaths">(0)` stops the compiler at a call to one of them.
namespace death_alarm_diagnostic {
void alarm_deaths_must_be_at_least_1();
void alarm_window_must_be_longer_than_0_ms();
void alarm_file_must_not_be_empty();
}  // namespace death_alarm_diagnostic

/// How many deaths of one worker are tolerated within the window; one more fires the alarm.
template <>
struct cluster::setting<"alarm deaths"> {
  using value_type = unsigned;
  static constexpr char const* expects = "a count of at least 1";
  static constexpr bool check(unsigned n) { return n >= 1; }
  static constexpr auto reject = &death_alarm_diagnostic::alarm_deaths_must_be_at_least_1;
  static constexpr value_type default_value = 3;
};

/// The sliding window the deaths are counted in.
template <>
struct cluster::setting<"alarm window"> {
  using value_type = std::chrono::milliseconds;
  static constexpr char const* expects = "a duration longer than 0 ms";
  static constexpr bool check(std::chrono::milliseconds window) { return window.count() > 0; }
  static constexpr auto reject = &death_alarm_diagnostic::alarm_window_must_be_longer_than_0_ms;
  static constexpr value_type default_value{60000};
};

/// The file the alarm lines are appended to, relative to the working directory.
template <>
struct cluster::setting<"alarm file"> {
  using value_type = std::string_view;
  static constexpr char const* expects = "a non-empty path";
  static constexpr bool check(std::string_view path) { return !path.empty(); }
  static constexpr auto reject = &death_alarm_diagnostic::alarm_file_must_not_be_empty;
  static constexpr value_type default_value = "alarm.log";
};

/// Appends `death alarm: worker 0 died 4 times within 10000 ms (last: SIGKILL, pid 1234);
/// master 1200 (/srv/app/pids/master.pid)` to the alarm file when one worker dies more than
/// `alarm deaths` times within `alarm window`. A monitoring agent watching that file learns
/// that the application crashes in a loop, which the master alone hides by replacing workers.
///
/// *Requires* `cluster::pidfiles`, used before it: the line names the master's pid file, so that
/// whoever reacts to the alarm finds the master (and with it the workers) to inspect.
struct death_alarm {
  static constexpr cluster::fixed_string name = "death alarm";
  using requires_plugins = cluster::type_list<cluster::pidfiles>;

  /// The recent deaths of each worker id, oldest first.
  std::map<unsigned, std::deque<std::chrono::steady_clock::time_point>> deaths;

  template <class Master>
  void on(cluster::events::worker_killed const& event, Master& master) {
    // The master says why the worker ended: only crashes count, not the workers it stopped,
    // removed or signalled itself.
    using reason = cluster::events::exit_reason;
    if (event.reason != reason::crashed && event.reason != reason::gave_up) return;

    // Read once per death: get<"key">() is resolved at compile time, no look-up by name.
    unsigned const limit = master.template get<"alarm deaths">();
    std::chrono::milliseconds const window = master.template get<"alarm window">();

    auto const now = std::chrono::steady_clock::now();
    auto& recent = deaths[event.id];
    recent.push_back(now);
    while (!recent.empty() && now - recent.front() > window) recent.pop_front();
    if (recent.size() <= limit) return;

    // A plugin reaches another only if it requires it (`requires_plugins` above).
    auto const& pids = master.template plugin<cluster::pidfiles>();
    std::string const how = cluster::os::describe_exit(event.exit_code, event.signal);
    std::string const line =
        timestamp() + " death alarm: worker " + std::to_string(event.id) + " died " +
        std::to_string(recent.size()) + " times within " + std::to_string(window.count()) +
        " ms (last: " + how + ", pid " + std::to_string(event.pid) + "); master " +
        std::to_string(pids.pidof("master")) + " (" + pids.path_of("master").string() + ")\n";
    append(std::string(master.template get<"alarm file">()), line);
    recent.clear();  // the next alarm needs as many deaths again
  }

 private:
  static std::string timestamp() {
    std::time_t const t = std::time(nullptr);
    std::tm utc{};
    ::gmtime_r(&t, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
  }

  /// One write with O_APPEND: lines from several masters sharing the file never interleave.
  static void append(std::string const& path, std::string const& line) {
    int const fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    [[maybe_unused]] ssize_t const n = ::write(fd, line.data(), line.size());
    ::close(fd);
  }
};
