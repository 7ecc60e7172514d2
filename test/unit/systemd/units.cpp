// SPDX-License-Identifier: BSL-1.0
// Unit files from the configuration: signals, quoting, listeners, and systemd's own verdict.
#include <cluster/signals.hpp>
#include <cluster/systemd.hpp>

#include "../../support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

using namespace cluster;
using namespace std::chrono_literals;

namespace {

/// The lines of `text` that are settings (not comments, not blank).
std::vector<std::string> settings_lines(std::string const& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.front() != '#') out.push_back(line);
  }
  return out;
}

/// True when `text` has the setting line `line`, exactly.
bool has_line(std::string const& text, std::string const& line) {
  auto const lines = settings_lines(text);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

/// The value of the first `key=` line of `text`, or "".
std::string value_of(std::string const& text, std::string const& key) {
  for (auto const& line : settings_lines(text)) {
    if (line.starts_with(key + "=")) return line.substr(key.size() + 1);
  }
  return {};
}

/// A policy with no master restart, that stops gracefully on SIGINT only.
struct no_restart_signals {
  static constexpr std::array signals{SIGINT, SIGTERM};
  static constexpr master_action action(int signal) noexcept {
    return signal == SIGINT ? master_action::graceful_shutdown : master_action::hard_shutdown;
  }
};

/// A policy with no graceful stop at all: systemd should still be able to stop it.
struct hard_only_signals {
  static constexpr std::array signals{SIGINT, SIGUSR1};
  static constexpr master_action action(int signal) noexcept {
    return signal == SIGINT ? master_action::hard_shutdown : master_action::restart;
  }
};

core_settings production() {
  core_settings s;
  s.working_directory = "/srv/app";
  s.timeout = 60s;
  s.backlog = 64;
  return s;
}

systemd::unit_options app() {
  systemd::unit_options o;
  o.name = "app";
  o.description = "The app";
  o.executable = "/usr/local/bin/app";
  o.environment = "production";
  return o;
}

/// Writes `text` to `dir`/`name`; the file's path.
std::filesystem::path write_file(cluster::testing::temp_dir const& dir, std::string const& name,
                                 std::string const& text) {
  std::ofstream(dir.path() / name) << text;
  return dir.path() / name;
}

/// The text of `file`, or "" when it cannot be read.
std::string read_text(std::filesystem::path const& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// deploy/systemd in the source tree, found from this file's path.
std::filesystem::path const deploy_dir =
    std::filesystem::path(__FILE__).parent_path() / "../../../deploy/systemd";

/// What hello (example/hello.cpp) would print, named hello as in deploy/systemd.
core_settings hello_settings() {
  core_settings s;
  s.working_directory = "/usr/local/bin";  // the default: the executable's folder
  s.timeout = 10s;                         // .set<"timeout">(10000)
  return s;
}
systemd::unit_options hello_options() {
  systemd::unit_options o;
  o.name = "hello";
  o.executable = "/usr/local/bin/cluster-hello";
  return o;
}
std::array const hello_listeners{endpoint{endpoint::kind::tcp, 8080, ""}};  // PORT=8080

/// Runs `command` through the shell; its exit status, and its output (both streams) in `output`.
int run(std::string const& command, std::filesystem::path const& log, std::string& output) {
  int const status = std::system((command + " >" + log.string() + " 2>&1").c_str());
  output = read_text(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("the policies name their graceful and restart signals") {
  STATIC_REQUIRE(systemd::graceful_signal<default_signals>() == SIGQUIT);
  STATIC_REQUIRE(systemd::graceful_signal<container_signals>() == SIGTERM);
  STATIC_REQUIRE(systemd::restart_signal<default_signals>() == SIGUSR2);
  STATIC_REQUIRE(systemd::restart_signal<container_signals>() == SIGUSR2);
  STATIC_REQUIRE(systemd::graceful_signal<no_restart_signals>() == SIGINT);
  STATIC_REQUIRE(systemd::restart_signal<no_restart_signals>() == 0);
  STATIC_REQUIRE(systemd::graceful_signal<hard_only_signals>() == SIGINT);  // stops, at least
  STATIC_REQUIRE(systemd::restart_signal<hard_only_signals>() == SIGUSR1);
}

TEST_CASE("the service unit for the default signals") {
  auto const unit =
      systemd::service_unit(production(), app(), systemd::graceful_signal<default_signals>(),
                            systemd::restart_signal<default_signals>());
  CAPTURE(unit);
  CHECK(settings_lines(unit) == std::vector<std::string>{
                                    "[Unit]",
                                    "Description=The app",
                                    "Requires=app.socket",
                                    "After=app.socket",
                                    "[Service]",
                                    "Type=notify",
                                    "NotifyAccess=main",
                                    "ExecStart=/usr/local/bin/app",
                                    "Environment=CLUSTER_ENV=production",
                                    "WorkingDirectory=/srv/app",
                                    "ExecReload=/bin/kill -USR2 $MAINPID",
                                    "KillSignal=SIGQUIT",
                                    "KillMode=mixed",
                                    "TimeoutStopSec=70s",
                                    "Restart=on-failure",
                                    "RestartPreventExitStatus=78",
                                    "[Install]",
                                    "WantedBy=multi-user.target",
                                });
  // The watchdog is explained, and left to the user.
  CHECK(unit.find("\n#WatchdogSec=") != std::string::npos);
  CHECK(unit.find("WATCHDOG=1") != std::string::npos);
  // So are rolling restarts and the newer reload type.
  CHECK(unit.find("SIGHUP") != std::string::npos);
  CHECK(unit.find("Type=notify-reload and ReloadSignal=SIGUSR2") != std::string::npos);
  CHECK(unit.find("Never shorter than the \"timeout\" setting (60 s)") != std::string::npos);
  CHECK(unit.find("MAINPID=") != std::string::npos);
}

TEST_CASE("the service unit for the container signals stops with SIGTERM") {
  auto const unit =
      systemd::service_unit(production(), app(), systemd::graceful_signal<container_signals>(),
                            systemd::restart_signal<container_signals>());
  CHECK(has_line(unit, "KillSignal=SIGTERM"));
  CHECK(has_line(unit, "KillMode=mixed"));
  CHECK(has_line(unit, "ExecReload=/bin/kill -USR2 $MAINPID"));
}

TEST_CASE("a policy without master restart has no ExecReload") {
  auto const unit = systemd::service_unit(production(), app(), SIGINT, 0);
  CHECK(value_of(unit, "ExecReload").empty());
  CHECK(has_line(unit, "KillSignal=SIGINT"));
}

TEST_CASE("TimeoutStopSec is never shorter than the timeout setting") {
  for (auto const timeout : {0ms, 1ms, 1500ms, 10000ms, 60000ms, 3600000ms}) {
    core_settings s = production();
    s.timeout = timeout;
    auto const unit = systemd::service_unit(s, app(), SIGQUIT, SIGUSR2);
    std::string const value = value_of(unit, "TimeoutStopSec");
    CAPTURE(timeout.count(), value);
    REQUIRE(value.ends_with("s"));
    auto const seconds = std::chrono::seconds(std::stoll(value.substr(0, value.size() - 1)));
    CHECK(seconds > timeout);  // strictly: the master needs time to finish after the workers
    CHECK(seconds > 0s);       // 0 would mean "no timeout at all" to systemd
  }
}

TEST_CASE("ExecStart quotes arguments by systemd's rules") {
  auto o = app();
  o.executable = "/opt/my app/bin/app";
  o.arguments = {"--name", "two words", "it's", "say \"hi\"", "back\\slash",
                 "100%",   "$HOME",     "",     ";",          "tab\there"};
  auto const unit = systemd::service_unit(production(), o, SIGQUIT, SIGUSR2);
  CHECK(value_of(unit, "ExecStart") ==
        R"("/opt/my app/bin/app" --name "two words" "it's" "say \"hi\"" "back\\slash" 100%% )"
        R"($$HOME "" ";" "tab\there")");
}

TEST_CASE("Environment= and WorkingDirectory= only when there is something to set") {
  core_settings s = production();
  auto o = app();
  SECTION("no environment, no working directory") {
    o.environment.clear();
    s.working_directory = {};
    auto const unit = systemd::service_unit(s, o, SIGQUIT, SIGUSR2);
    CHECK(value_of(unit, "Environment").empty());
    CHECK(value_of(unit, "WorkingDirectory").empty());
  }
  SECTION("an environment name with a space is quoted, and % is literal") {
    o.environment = "staging 2";
    s.working_directory = "/srv/100%";
    auto const unit = systemd::service_unit(s, o, SIGQUIT, SIGUSR2);
    CHECK(has_line(unit, "Environment=\"CLUSTER_ENV=staging 2\""));
    CHECK(has_line(unit, "WorkingDirectory=/srv/100%%"));
  }
  SECTION("a relative working directory is explained, not set") {
    s.working_directory = "data";
    auto const unit = systemd::service_unit(s, o, SIGQUIT, SIGUSR2);
    CHECK(value_of(unit, "WorkingDirectory").empty());
    CHECK(unit.find("\"data\" is relative") != std::string::npos);
  }
}

TEST_CASE("without socket activation the service binds by itself") {
  auto o = app();
  o.socket_activation = false;
  auto const unit = systemd::service_unit(production(), o, SIGQUIT, SIGUSR2);
  CHECK(value_of(unit, "Requires").empty());
  CHECK(has_line(unit, "After=network.target"));
}

TEST_CASE("the defaults come from the running executable") {
  systemd::unit_options const o;
  auto const unit = systemd::service_unit(production(), o, SIGQUIT, SIGUSR2);
  std::string const exe = std::filesystem::canonical("/proc/self/exe").string();
  std::string const name = std::filesystem::path(exe).filename().string();  // unit.systemd.units
  CHECK(value_of(unit, "ExecStart") == exe);
  CHECK(has_line(unit, "Requires=" + name + ".socket"));
  CHECK(has_line(unit, "Description=" + name + " (cluster)"));
}

TEST_CASE("a relative executable is a one-line error") {
  auto o = app();
  o.executable = "bin/app";
  CHECK_THROWS_WITH(systemd::service_unit(production(), o, SIGQUIT, SIGUSR2),
                    Catch::StartsWith("cluster: the unit's executable 'bin/app' is not an "
                                      "absolute path"));
}

TEST_CASE("the socket unit has one ListenStream per listener") {
  std::array const listeners{
      endpoint{endpoint::kind::tcp, 8080, ""},
      endpoint{endpoint::kind::tcp, 8081, "127.0.0.1"},
      endpoint{endpoint::kind::tcp, 8082, "::1"},
      endpoint{endpoint::kind::unix_socket, 0, "/run/app.sock"},
      endpoint{endpoint::kind::unix_socket, 0, "app.sock"},  // relative to the working directory
  };
  auto const unit = systemd::socket_unit(listeners, production(), app());
  CAPTURE(unit);
  CHECK(settings_lines(unit) == std::vector<std::string>{
                                    "[Unit]",
                                    "Description=The app, listening sockets",
                                    "[Socket]",
                                    "ListenStream=8080",
                                    "ListenStream=127.0.0.1:8081",
                                    "ListenStream=[::1]:8082",
                                    "ListenStream=/run/app.sock",
                                    "ListenStream=/srv/app/app.sock",
                                    "BindIPv6Only=both",
                                    "FileDescriptorName=app",
                                    "Backlog=64",
                                    "[Install]",
                                    "WantedBy=sockets.target",
                                });
}

TEST_CASE("a host name is resolved into the socket unit, with a note") {
  std::array const listeners{endpoint{endpoint::kind::tcp, 8080, "localhost"}};
  auto const unit = systemd::socket_unit(listeners, production(), app());
  auto const value = value_of(unit, "ListenStream");
  CAPTURE(unit);
  CHECK((value == "127.0.0.1:8080" || value == "[::1]:8080"));
  CHECK(unit.find("# localhost:8080 resolved to " + value) != std::string::npos);
  CHECK(value_of(unit, "BindIPv6Only").empty());
}

TEST_CASE("listeners a socket unit cannot express are one-line errors") {
  SECTION("port 0") {
    std::array const listeners{endpoint{endpoint::kind::tcp, 0, "127.0.0.1"}};
    CHECK_THROWS_WITH(systemd::socket_unit(listeners, production(), app()),
                      Catch::StartsWith("cluster: a socket unit cannot listen on port 0"));
  }
  SECTION("a relative path without an absolute working directory") {
    core_settings s = production();
    s.working_directory = "data";
    std::array const listeners{endpoint{endpoint::kind::unix_socket, 0, "app.sock"}};
    CHECK_THROWS_WITH(systemd::socket_unit(listeners, s, app()),
                      Catch::StartsWith("cluster: the socket unit needs an absolute path"));
  }
  SECTION("an unknown host") {
    std::array const listeners{endpoint{endpoint::kind::tcp, 80, "no-such-host.invalid"}};
    CHECK_THROWS_WITH(systemd::socket_unit(listeners, production(), app()),
                      Catch::StartsWith("cluster: cannot write the socket unit: unknown host"));
  }
}

TEST_CASE("systemd-analyze verify accepts the generated units") {
  cluster::testing::temp_dir dir("cluster-units");
  std::string output;
  if (run("command -v systemd-analyze", dir.path() / "which.log", output) != 0) {
    WARN("systemd-analyze is not installed; the units were not verified by systemd");
    return;
  }
  // A control unit first: if systemd cannot verify even that here, the tool is unusable on this
  // machine (no /bin/kill, a sandbox), and that is not the generated units' fault.
  auto const control = write_file(dir, "cluster-control.service",
                                  "[Service]\nType=notify\nExecStart=/bin/true\n"
                                  "ExecReload=/bin/kill -HUP $MAINPID\n");
  if (run("systemd-analyze verify " + control.string(), dir.path() / "control.log", output) != 0 ||
      !output.empty()) {
    WARN("systemd-analyze verify does not work on this machine; units not verified:\n" + output);
    return;
  }
  // The test program itself stands for the server: systemd checks that ExecStart= exists.
  core_settings s = production();
  s.working_directory = dir.path().c_str();
  std::string const name = "cluster-verify-" + std::to_string(::getpid());
  systemd::unit_options o;
  o.name = name;
  o.arguments = {"two words", "100%", "$HOME"};
  o.environment = "production";
  std::array const listeners{
      endpoint{endpoint::kind::tcp, 8080, ""},
      endpoint{endpoint::kind::tcp, 8081, "127.0.0.1"},
      endpoint{endpoint::kind::tcp, 8082, "::1"},
      endpoint{endpoint::kind::unix_socket, 0, "app.sock"},
  };
  auto const verify = [&](std::string const& unit, std::string const& service_text,
                          std::string const& socket_text) {
    auto const service = write_file(dir, unit + ".service", service_text);
    auto const socket = write_file(dir, unit + ".socket", socket_text);
    int const status = run("systemd-analyze verify " + service.string() + " " + socket.string(),
                           dir.path() / "verify.log", output);
    CAPTURE(unit, service_text, socket_text, output);
    CHECK(status == 0);
    // verify exits 0 even for unknown keys and values it ignores: any word about our units is
    // a complaint.
    CHECK(output.find(unit + ".") == std::string::npos);
  };
  for (int const graceful : {systemd::graceful_signal<default_signals>(),
                             systemd::graceful_signal<container_signals>()}) {
    verify(name, systemd::service_unit(s, o, graceful, SIGUSR2),
           systemd::socket_unit(listeners, s, o));
  }
  // deploy/systemd too, starting the test program instead of /usr/local/bin/cluster-hello.
  std::string service = read_text(deploy_dir / "hello.service");
  std::string const socket = read_text(deploy_dir / "hello.socket");
  std::string const exec = "ExecStart=/usr/local/bin/cluster-hello\n";
  if (auto const at = service.find(exec); at != std::string::npos && !socket.empty()) {
    service.replace(at, exec.size(),
                    "ExecStart=" + std::filesystem::canonical("/proc/self/exe").string() + "\n");
    verify("hello", service, socket);
  }
}

TEST_CASE("deploy/systemd has every setting hello prints for itself") {
  auto const service = read_text(deploy_dir / "hello.service");
  auto const socket = read_text(deploy_dir / "hello.socket");
  if (service.empty() || socket.empty()) {
    WARN("deploy/systemd not found from " __FILE__ "; case skipped");
    return;
  }
  auto const printed_service = systemd::service_unit(hello_settings(), hello_options(),
                                                     systemd::graceful_signal<default_signals>(),
                                                     systemd::restart_signal<default_signals>());
  for (auto const& line : settings_lines(printed_service)) {
    if (line.starts_with("Description=")) continue;
    CAPTURE(line);
    CHECK(has_line(service, line));
  }
  auto const printed_socket =
      systemd::socket_unit(hello_listeners, hello_settings(), hello_options());
  for (auto const& line : settings_lines(printed_socket)) {
    if (line.starts_with("Description=")) continue;
    CAPTURE(line);
    CHECK(has_line(socket, line));
  }
}
