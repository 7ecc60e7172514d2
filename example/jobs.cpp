// Example: an abstract cluster: workers that consume jobs instead of accepting connections
//   build/example/jobs         (WEB_CONCURRENCY=3 build/example/jobs; kill -QUIT <master> to drain)
#include <cluster/cluster.hpp>

#include <unistd.h>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>

/// The server: a member `work` makes the cluster abstract. Each worker runs it until the master
/// asks it to stop; a `work` that returns is restarted (it is a worker like any other).
struct consumer {
  void work(cluster::worker_context& ctx) {
    unsigned done = 0;
    std::fprintf(stderr, "worker %u (pid %d) waiting for jobs\n", ctx.id(), ::getpid());
    // sleep_for wakes at once on a graceful stop, so the loop ends between two jobs.
    while (ctx.sleep_for(std::chrono::milliseconds(500))) {
      ++done;  // stands for taking one job from a queue and doing it
    }
    std::fprintf(stderr, "worker %u stopping after %u jobs\n", ctx.id(), done);
  }
};

static unsigned from_env(char const* name, unsigned fallback) {
  char const* text = std::getenv(name);
  unsigned value = fallback;
  if (text && *text) std::from_chars(text, text + std::string_view(text).size(), value);
  return value;
}

int main(int argc, char** argv) {
  if (argc > 1) {
    std::fprintf(stderr, "Usage: %s\n  WEB_CONCURRENCY=3 %s\n", argv[0], argv[0]);
    return 2;
  }
  return cluster::cluster<consumer>()
      .set<"workers">(cluster::runtime(from_env("WEB_CONCURRENCY", 2)))
      .set<"timeout">(5000)
      .run(argc, argv);
}
