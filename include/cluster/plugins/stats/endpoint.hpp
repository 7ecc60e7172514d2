// SPDX-License-Identifier: BSL-1.0
// The stats plugin's metrics endpoint: a small HTTP/1.1 server on the master's event loop that
// answers GET /metrics and the routes other plugins add, one bounded request per connection.
// Declarations only: the endpoint is not per configuration, so its Asio code is compiled with the
// library's (impl/endpoint.ipp).
#pragma once

#include <cluster/linkage.hpp>
#include <cluster/plugins/stats/state.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace cluster::detail::statistics {

//=== the metrics endpoint ===//

/// `host:port` split and checked: a numeric IPv4 or IPv6 address (`[::1]:9100`) and a port.
struct metrics_address {
  std::string host;  ///< the address in its canonical form, without brackets
  bool v6 = false;
  std::uint16_t port = 0;

  CLUSTER_DECL static std::optional<metrics_address> parse(std::string_view text);

  /// `127.0.0.1:9100`, `[::1]:9100`.
  [[nodiscard]] CLUSTER_DECL std::string text(std::uint16_t actual_port) const;
};

/// A listening socket for `a`, close-on-exec (a successor master must not inherit it) and
/// non-blocking (Asio accepts on it); or -1 with errno set.
///
/// Bound with SO_REUSEADDR, like the master's listeners: the connections of the previous
/// master's last scrapes (in TIME_WAIT) must not keep a restarted master from the address.
CLUSTER_DECL int bind_metrics(metrics_address const& a);

/// The port `fd` is bound to.
CLUSTER_DECL std::uint16_t bound_port(int fd);

/// The time a client has to send its request (and, once answered, to close): a client that
/// sends too little is cut off. Sending too much is bounded by `max_head_bytes` and
/// `max_body_bytes`. A request handed to a route that waits (a command) is not timed.
inline constexpr std::chrono::seconds scrape_time_limit{2};

/// What the endpoint serves: the metrics text, made at each scrape.
using body_source = std::shared_ptr<std::function<std::string()> const>;

/// Serves `body` on `fd` (a socket from bind_metrics for `a`, which it adopts) on `io`, until
/// `st->stop_endpoint()` or the end of `io`. The endpoint's pending operations own it, so that it
/// goes with the master's `io_context`, whatever ends it; `st` records its descriptors, which a
/// forked worker closes.
CLUSTER_DECL void serve_endpoint(boost::asio::io_context& io, int fd, metrics_address const& a,
                                 std::shared_ptr<state> st, body_source body);

}  // namespace cluster::detail::statistics

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#include <cluster/plugins/stats/impl/endpoint.ipp>
#endif
