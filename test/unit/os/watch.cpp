// SPDX-License-Identifier: BSL-1.0
// Watching files and trees with inotify: complete files only, atomic renames, directories made
// later, and the names that are never the change meant (editor artefacts, the program's own).
#include <cluster/os/watch.hpp>

#include "../../support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace cluster;
using cluster::testing::temp_dir;
namespace fs = std::filesystem;

namespace {

/// What `w` reports until `path` is among it (or 5 s pass): inotify reports in order, so every
/// change made before `path` was written is in the result.
std::vector<std::string> until_seen(os::tree_watch& w, fs::path const& path) {
  std::vector<std::string> seen;
  auto const until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{w.fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    for (auto& s : w.read()) seen.push_back(std::move(s));
    if (std::find(seen.begin(), seen.end(), path.string()) != seen.end()) break;
  }
  return seen;
}

void write(fs::path const& path, std::string const& text = "x") { std::ofstream(path) << text; }

bool has(std::vector<std::string> const& seen, fs::path const& path) {
  return std::find(seen.begin(), seen.end(), path.string()) != seen.end();
}

}  // namespace

TEST_CASE("a file is reported once written and closed, never while half written") {
  temp_dir dir("cluster-watch");
  os::tree_watch w;
  REQUIRE(w.available());
  REQUIRE(w.add_tree(dir.path().string()));
  // Opened and partly written, like a slow copy: not reported...
  int const fd = ::open((dir.path() / "app.conf").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "half", 4) == 4);
  write(dir.path() / "mark");
  auto const before = until_seen(w, dir.path() / "mark");
  REQUIRE(has(before, dir.path() / "mark"));
  CHECK_FALSE(has(before, dir.path() / "app.conf"));
  // ...until it is closed.
  REQUIRE(::write(fd, " and whole", 10) == 10);
  ::close(fd);
  CHECK(has(until_seen(w, dir.path() / "app.conf"), dir.path() / "app.conf"));
  // A removal is a change too.
  fs::remove(dir.path() / "app.conf");
  CHECK(has(until_seen(w, dir.path() / "app.conf"), dir.path() / "app.conf"));
}

TEST_CASE("a watched file replaced by an atomic rename is reported under its own name only") {
  temp_dir dir("cluster-watch");
  fs::path const server = dir.path() / "server";
  write(server, "v1");
  os::tree_watch w;
  REQUIRE(w.add_file(server.string()));
  // Its neighbours are not watched; the new build written beside it is not reported while it is
  // written, and the rename reports the watched name.
  write(dir.path() / "neighbour");
  write(dir.path() / "server.new", "v2");
  fs::rename(dir.path() / "server.new", server);
  auto const seen = until_seen(w, server);
  CHECK(seen == std::vector<std::string>{server.string()});
}

TEST_CASE("a file watched by its name is reported whatever the extension filter says") {
  temp_dir dir("cluster-watch");
  fs::path const server = dir.path() / "server";
  write(server, "v1");
  os::watch_filter filter;
  filter.extensions = {".json"};
  os::tree_watch w(filter);
  REQUIRE(w.add_tree(dir.path().string()));
  REQUIRE(w.add_file(server.string()));
  write(dir.path() / "notes.txt");
  write(dir.path() / "server.new", "v2");
  fs::rename(dir.path() / "server.new", server);
  CHECK(until_seen(w, server) == std::vector<std::string>{server.string()});
  os::poll_watch p(filter);
  p.add_tree(dir.path().string());
  p.add_file(server.string());
  CHECK(p.scan().empty());
  write(dir.path() / "server", "v3");
  write(dir.path() / "notes.txt", "more");
  CHECK(p.scan().empty());
  CHECK(p.scan() == std::vector<std::string>{server.string()});
}

TEST_CASE("directories made after the start are watched, with the files already in them") {
  temp_dir dir("cluster-watch");
  os::tree_watch w;
  REQUIRE(w.add_tree(dir.path().string()));
  CHECK(w.watched() == 1);
  fs::create_directory(dir.path() / "templates");
  // The watch is added when the creation is read: files written after that are events.
  write(dir.path() / "mark");
  CHECK(until_seen(w, dir.path() / "mark") ==
        std::vector<std::string>{(dir.path() / "mark").string()});
  CHECK(w.watched() == 2);
  write(dir.path() / "templates" / "page.html");
  CHECK(has(until_seen(w, dir.path() / "templates" / "page.html"),
            dir.path() / "templates" / "page.html"));
  // A tree made elsewhere and moved in: watched, and its files reported.
  temp_dir outside("cluster-watch-outside");
  fs::create_directories(outside.path() / "assets" / "css");
  write(outside.path() / "assets" / "css" / "site.css");
  fs::rename(outside.path() / "assets", dir.path() / "assets");
  fs::path const css = dir.path() / "assets" / "css" / "site.css";
  CHECK(has(until_seen(w, css), css));
  CHECK(w.watched() == 4);
  write(dir.path() / "assets" / "css" / "print.css");
  CHECK(has(until_seen(w, dir.path() / "assets" / "css" / "print.css"),
            dir.path() / "assets" / "css" / "print.css"));
}

TEST_CASE("a folder emptied and refilled by a build tool is watched again") {
  temp_dir dir("cluster-watch");
  fs::create_directory(dir.path() / "build");
  os::tree_watch w;
  REQUIRE(w.add_tree(dir.path().string()));
  CHECK(w.watched() == 2);
  fs::remove_all(dir.path() / "build");
  fs::create_directory(dir.path() / "build");
  write(dir.path() / "build" / "out.json");
  fs::path const out = dir.path() / "build" / "out.json";
  // Written before or after the new folder's watch was added: reported either way.
  CHECK(has(until_seen(w, out), out));
  CHECK(w.watched() == 2);
}

TEST_CASE("editor artefacts, excluded paths and other extensions are never reported") {
  temp_dir dir("cluster-watch");
  fs::create_directory(dir.path() / "logs");
  os::watch_filter filter;
  filter.extensions = {".json", ".html"};
  filter.excluded = {(dir.path() / "logs").string() + "/"};
  os::tree_watch w(filter);
  REQUIRE(w.add_tree(dir.path().string()));
  CHECK(w.watched() == 1);  // logs/ is not even watched
  for (char const* name :
       {".config.json.swp", ".config.json.swx", "config.json~", "4913", ".#config.json",
        "#config.json#", "config.json.tmp", "notes.txt", "page.html___jb_tmp___"})
    write(dir.path() / name);
  write(dir.path() / "logs" / "master.json");
  fs::create_directory(dir.path() / "logs" / "old");
  write(dir.path() / "config.json");
  auto const seen = until_seen(w, dir.path() / "config.json");
  CHECK(seen == std::vector<std::string>{(dir.path() / "config.json").string()});
}

TEST_CASE("what cannot be watched says why") {
  os::tree_watch w;
  CHECK_FALSE(w.add_tree("/no/such/directory"));
  CHECK(w.error() == ENOENT);
  CHECK_FALSE(w.add_file("/no/such/directory/server"));
  CHECK(w.error() == ENOENT);
  CHECK(os::is_editor_artefact(".server.swp"));
  CHECK_FALSE(os::is_editor_artefact("server"));
  CHECK_FALSE(os::is_editor_artefact("#include"));
}

TEST_CASE("polling reports a file once it has stopped changing, and a removal at once") {
  temp_dir dir("cluster-poll");
  write(dir.path() / "old.json");
  os::watch_filter filter;
  filter.excluded = {(dir.path() / "logs").string()};
  os::poll_watch w(filter);
  w.add_tree(dir.path().string());
  CHECK(w.scan().empty());  // the starting point: nothing changed yet
  CHECK(w.scan().empty());
  // Written between two scans: reported at the scan after it stopped changing.
  write(dir.path() / "new.json", "{}");
  CHECK(w.scan().empty());
  CHECK(w.scan() == std::vector<std::string>{(dir.path() / "new.json").string()});
  CHECK(w.scan().empty());
  // Half written across several scans: nothing until it stops growing.
  int const fd = ::open((dir.path() / "big.json").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(::write(fd, "0123456789", 10) == 10);
    CHECK(w.scan().empty());
  }
  ::close(fd);
  CHECK(w.scan() == std::vector<std::string>{(dir.path() / "big.json").string()});
  // A directory made later, its files; editor artefacts and excluded paths never.
  fs::create_directories(dir.path() / "templates" / "mail");
  fs::create_directories(dir.path() / "logs");
  write(dir.path() / "templates" / "mail" / "welcome.html");
  write(dir.path() / "templates" / ".welcome.html.swp");
  write(dir.path() / "logs" / "master.log");
  CHECK(w.scan().empty());
  CHECK(w.scan() ==
        std::vector<std::string>{(dir.path() / "templates" / "mail" / "welcome.html").string()});
  // A removal.
  fs::remove(dir.path() / "old.json");
  CHECK(w.scan() == std::vector<std::string>{(dir.path() / "old.json").string()});
}

TEST_CASE("polling one file sees it replaced by a rename") {
  temp_dir dir("cluster-poll");
  fs::path const server = dir.path() / "server";
  write(server, "v1");
  os::poll_watch w;
  w.add_file(server.string());
  CHECK(w.scan().empty());
  write(dir.path() / "server.new", "v2");
  write(dir.path() / "neighbour");
  fs::rename(dir.path() / "server.new", server);
  CHECK(w.scan().empty());  // changed (a new inode): reported once it stays so
  CHECK(w.scan() == std::vector<std::string>{server.string()});
}

TEST_CASE("paths are compared in one spelling: a tree given as dir/. still leaves dir/logs out") {
  temp_dir dir("cluster-watch");
  fs::create_directory(dir.path() / "logs");
  os::watch_filter filter;
  filter.excluded = {(dir.path() / "." / "logs" / "").string()};
  os::tree_watch w(filter);
  REQUIRE(w.add_tree((dir.path() / ".").string()));
  CHECK(w.watched() == 1);  // logs/ is not watched
  write(dir.path() / "logs" / "master.log");
  write(dir.path() / "mark");
  CHECK(until_seen(w, dir.path() / "mark") ==
        std::vector<std::string>{(dir.path() / "mark").string()});
  os::poll_watch p(filter);
  p.add_tree((dir.path() / "." / "").string());
  CHECK(p.scan().empty());
  write(dir.path() / "logs" / "master.log", "more");
  write(dir.path() / "other");
  CHECK(p.scan().empty());
  CHECK(p.scan() == std::vector<std::string>{(dir.path() / "other").string()});
}
