// expect: cluster: this plugin's on() takes a worker event with the master, so it is never called
// A worker event taken with the master's type: it is delivered in the worker, with this_worker&.
#include <cluster/config.hpp>
#include <cluster/master/api.hpp>

struct app {};
struct request_counter {
  static constexpr cluster::fixed_string name = "request counter";
  int requests = 0;
  void on(cluster::events::client_request const& /*event*/, cluster::master_api& /*master*/) {
    ++requests;
  }
};

void configure() {
  [[maybe_unused]] auto c = cluster::cluster<app>().use(request_counter{}).listen(80);
}
