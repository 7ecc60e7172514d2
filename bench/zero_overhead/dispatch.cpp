// SPDX-License-Identifier: BSL-1.0
// Event dispatch to eight plugins through a resolved configuration, against direct calls.
//   build/bench/zero_overhead/bench_dispatch [iterations]
#include <cluster/config.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

struct app {};
struct fake_master {};

// `base` with its last character replaced by the digit `i`: a name of its own per plugin type.
template <std::size_t N>
constexpr cluster::fixed_string<N - 1> numbered(char const (&base)[N], int i) {
  cluster::fixed_string<N - 1> name(base);
  name.data_[N - 2] = static_cast<char>('0' + i);
  return name;
}

// Four plugins count spawned workers; four handle other events only and must cost nothing here.
template <int I>
struct counting {
  static constexpr auto name = numbered("counting ?", I);
  unsigned long total = 0;
  template <class Master>
  void on(cluster::events::worker_spawned const& ev, Master&) {
    total += ev.id + I;
  }
};
template <int I>
struct unrelated {
  static constexpr auto name = numbered("unrelated ?", I);
  unsigned long closes = 0;
  template <class Master>
  void on(cluster::events::close const&, Master&) {
    ++closes;
  }
};

// The hand-written program: the same objects, called directly.
struct direct {
  counting<0> a;
  counting<1> b;
  counting<2> c;
  counting<3> d;
  void spawned(cluster::events::worker_spawned const& ev, fake_master& m) {
    a.on(ev, m);
    b.on(ev, m);
    c.on(ev, m);
    d.on(ev, m);
  }
};

template <class F>
double nanoseconds_per_event(long iterations, F&& emit) {
  auto const start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) emit(static_cast<unsigned>(i & 7));
  std::chrono::duration<double, std::nano> const elapsed = std::chrono::steady_clock::now() - start;
  return elapsed.count() / static_cast<double>(iterations);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  long const iterations = argc > 1 ? std::atol(argv[1]) : 50'000'000;
  if (iterations <= 0) {
    std::fprintf(stderr, "Usage: %s [iterations]\n  e.g. %s 50000000\n", argv[0], argv[0]);
    return 2;
  }
  auto const config = cluster::cluster<app>()
                          .use(counting<0>{})
                          .use(unrelated<0>{})
                          .use(counting<1>{})
                          .use(unrelated<1>{})
                          .use(counting<2>{})
                          .use(unrelated<2>{})
                          .use(counting<3>{})
                          .use(unrelated<3>{})
                          .listen(0);
  auto resolved = config.resolve<"production">();
  direct hand;
  fake_master master;

  std::vector<double> ours;
  std::vector<double> baseline;
  for (int run = 0; run < 7; ++run) {
    ours.push_back(nanoseconds_per_event(iterations, [&](unsigned id) {
      resolved.emit(cluster::events::worker_spawned{id, 1}, master);
    }));
    baseline.push_back(nanoseconds_per_event(iterations, [&](unsigned id) {
      hand.spawned(cluster::events::worker_spawned{id, 1}, master);
    }));
  }

  // Use the results, so that neither loop can be removed.
  auto const& p = resolved.plugins();
  unsigned long const sum_ours = boost::hana::at_c<0>(p).total + boost::hana::at_c<6>(p).total;
  unsigned long const sum_hand = hand.a.total + hand.d.total;
  if (sum_ours != sum_hand) {
    std::fprintf(stderr, "dispatch: the two programs disagree (%lu vs %lu)\n", sum_ours, sum_hand);
    return 1;
  }
  double const m_ours = median(ours);
  double const m_base = median(baseline);
  std::printf("event dispatch to 8 plugins (4 handle the event), %ld events a run, median of 7\n",
              iterations);
  std::printf("  hand-written direct calls : %6.3f ns/event\n", m_base);
  std::printf("  cluster emit()            : %6.3f ns/event\n", m_ours);
  std::printf("  ratio                     : %6.3fx\n", m_ours / m_base);
  return 0;
}
