// SPDX-License-Identifier: BSL-1.0
// run() with a runtime value that does not fit: one line on stderr and status 1, before any fork.
#include <cluster/cluster.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

/// An abstract server: run() never gets as far as starting it in these tests.
struct idle_job {
  void work() {}
};

/// What run() prints on stderr: descriptor 2 goes to a temporary file until `text()`.
class stderr_capture {
 public:
  stderr_capture() : file_(std::tmpfile()), saved_(::dup(2)) {
    std::fflush(stderr);
    ::dup2(::fileno(file_), 2);
  }
  stderr_capture(stderr_capture const&) = delete;
  stderr_capture& operator=(stderr_capture const&) = delete;
  ~stderr_capture() {
    restore();
    std::fclose(file_);
  }

  std::string text() {
    restore();
    std::string out;
    std::rewind(file_);
    for (int c = std::fgetc(file_); c != EOF; c = std::fgetc(file_)) out += static_cast<char>(c);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }

  std::FILE* file_;
  int saved_;
};

template <class Config>
int run(Config const& config) {
  char name[] = "startup";
  char* argv[] = {name, nullptr};
  return config.run(1, argv);
}

}  // namespace

TEST_CASE("a runtime value that does not fit stops run() with one cluster: line and status 1") {
  ::unsetenv("CLUSTER_ENV");
  auto const config = cluster::cluster<idle_job>().set<"workers">(cluster::runtime(4294967297LL));
  stderr_capture captured;
  int const status = run(config);
  std::string const text = captured.text();
  CHECK(status == 1);
  CHECK(text ==
        "cluster: .set<\"workers\">(cluster::runtime(4294967297)) does not fit in unsigned; "
        "expects a count of at least 1\n");
}

TEST_CASE("a runtime duration that is not whole milliseconds stops run() the same way") {
  using namespace std::chrono_literals;
  ::unsetenv("CLUSTER_ENV");
  auto const config = cluster::cluster<idle_job>().in<"development">().set<"timeout">(
      cluster::runtime(std::chrono::duration<double, std::milli>{2.5}));
  stderr_capture captured;
  int const status = run(config);
  CHECK(status == 1);
  CHECK(captured.text() ==
        "cluster: .set<\"timeout\">(cluster::runtime(2.5ms)) is not a whole number of "
        "milliseconds; expects a duration of 0 ms or more\n");
}
