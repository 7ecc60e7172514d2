// Example: a service that is its own control tool, with a command of its own
//   mkdir -p build/example/pids; build/example/control   (serves on PORT, default 8080)
//   build/example/control status                         (the master and its workers)
//   build/example/control scale 4                        (this program's command: 4 workers)
//   build/example/control console                        (a prompt: status, scale(3), help)
//   build/example/control --json status; build/example/control shutdown
// The pid files and the control socket are in `pids` beside the executable (the default working
// directory), or in the directory CONTROL_PIDS names.
#include <cluster/cluster.hpp>
#include <cluster/plugins/cli.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/server/http.hpp>

#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

struct hello {
  cluster::http::response handle(cluster::http::request const& request) {
    cluster::http::response response{cluster::http::status::ok, request.version()};
    response.set(cluster::http::field::content_type, "text/plain");
    response.body() = "Hello World\n";
    return response;
  }
};

/// `scale N`: as many workers as N, adding or stopping (gracefully) the difference. Runs in the
/// master; what it returns is printed by `./control scale N`, what it throws is the error.
std::string scale(cluster::master_api& master, unsigned wanted) {
  if (wanted == 0 || wanted > 64) throw std::invalid_argument("scale takes 1 to 64 workers");
  int live = 0;
  for (auto const& w : master.workers())
    if (w.state != cluster::worker_state::stopping) ++live;
  int const change = static_cast<int>(wanted) - live;
  if (change != 0) master.spawn(change);
  return "workers: " + std::to_string(live) + " -> " + std::to_string(wanted);
}

int main(int argc, char** argv) {
  char const* pids = std::getenv("CONTROL_PIDS");
  unsigned port = 8080;
  if (char const* p = std::getenv("PORT")) std::from_chars(p, p + std::string_view(p).size(), port);
  return cluster::cluster<hello>()
      .set<"workers">(2)
      .use(cluster::pidfiles{pids != nullptr ? pids : "pids"})  // and pids/cluster.sock
      .use(cluster::cli{}.command<"scale", "N">("run N workers (1 to 64)", &scale))
      .listen(cluster::runtime(port), "127.0.0.1")
      .run(argc, argv);
}
