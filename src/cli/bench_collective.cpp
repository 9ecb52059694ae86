// esync bench allreduce: time, algbw and busbw of an in-place float32 allreduce against size
// (nccl-tests' columns), for esync's Collective (gloo backend) and, in the same run, for raw
// gloo driven directly (its own HashStore rendezvous, gloo::allreduce): the cost of our layer.
// Ranks are threads of this process over TCP loopback. Inputs are verifiable: rank r holds
// (r + 1) + (i mod 7) at element i, so every element's sum is known and `#wrong` counts misses.
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/hash_store.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <thread>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "comm/gloo_compat.hpp"
#include "esync/bench_table.hpp"
#include "esync/clock.hpp"
#include "esync/collective.hpp"
#include "esync/error.hpp"

namespace esync::cli {
namespace {

struct Rank {
  std::function<void(float*, std::size_t)> allreduce;
  std::function<void()> barrier;
};

Rank esync_rank(int r, int m, std::shared_ptr<comm::Store> store) {
  comm::CollectiveOptions o;
  o.backend = "gloo";
  o.rank = r;
  o.size = m;
  o.timeout = std::chrono::milliseconds(120000);
  std::shared_ptr<comm::Collective> c = comm::make_collective(o, std::move(store));
  return {[c](float* p, std::size_t n) { c->allreduce_sum(p, n); }, [c] { c->barrier(); }};
}

Rank raw_gloo_rank(int r, int m, std::shared_ptr<gloo::rendezvous::HashStore> store) {
  gloo::transport::tcp::attr attr;
  attr.hostname = "127.0.0.1";
  auto ctx = std::make_shared<gloo::rendezvous::Context>(r, m);
  auto device = gloo::transport::tcp::CreateDevice(attr);  // the context keeps it alive
  comm::connect_full_mesh(*ctx, std::move(store), device);
  auto tag = std::make_shared<std::uint32_t>(0);
  return {[ctx, tag](float* p, std::size_t n) {
            gloo::AllreduceOptions o(ctx);
            o.setOutput(p, n);
            o.setReduceFunction(
                static_cast<void (*)(void*, const void*, const void*, std::size_t)>(&gloo::sum<float>));
            o.setTag((*tag)++);
            gloo::allreduce(o);
          },
          [ctx, tag] {
            gloo::BarrierOptions o(ctx);
            o.setTag((*tag)++);
            gloo::barrier(o);
          }};
}

struct Result {
  double seconds = 0;
  std::uint64_t wrong = 0;
};

// Every rank on its own thread: fill, warm up, then repeat barrier + timed allreduce; rank 0's
// median is the figure (the barrier lines the ranks up, so it measures the allreduce alone).
Result measure(const std::vector<Rank>& ranks, std::size_t n, double min_s) {
  const int m = static_cast<int>(ranks.size());
  Result res;
  std::vector<std::thread> threads;
  for (int r = 0; r < m; ++r)
    threads.emplace_back([&, r] {
      std::vector<float> buf(n);
      auto fill = [&] {
        for (std::size_t i = 0; i < n; ++i) buf[i] = float(r + 1) + float(i % 7);
      };
      fill();
      ranks[static_cast<std::size_t>(r)].allreduce(buf.data(), n);  // warm-up, and the checked result
      if (r == 0) {
        const float base = float(m * (m + 1) / 2);
        for (std::size_t i = 0; i < n; ++i) res.wrong += buf[i] != base + float(m) * float(i % 7);
      }
      // Every rank must run the same number of iterations, so the count comes from the size
      // (a ~0.5 GB/s, 100 us guess of the cost), not from each rank's own clock.
      const double guess_s = 1e-4 + double(n) * sizeof(float) / 0.5e9;
      const int reps = static_cast<int>(std::clamp(min_s / guess_s, 5.0, 200.0));
      std::vector<double> t;
      for (int k = 0; k < reps; ++k) {
        ranks[static_cast<std::size_t>(r)].barrier();
        const double t0 = mono_s();
        ranks[static_cast<std::size_t>(r)].allreduce(buf.data(), n);
        t.push_back(mono_s() - t0);
      }
      if (r == 0) {
        std::nth_element(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(t.size() / 2), t.end());
        res.seconds = t[t.size() / 2];
      }
    });
  for (auto& th : threads) th.join();
  return res;
}

}  // namespace

int bench_allreduce(int argc, char** argv) {
  cxxopts::Options o("esync bench allreduce",
                     "Allreduce time, algbw and busbw vs size: esync's gloo collective and raw gloo.");
  o.add_options()("ranks", "Ranks (threads of this process, TCP loopback)",
                  cxxopts::value<int>()->default_value("2"))(
      "min-bytes", "Smallest message", cxxopts::value<std::string>()->default_value("1K"))(
      "max-bytes", "Largest message", cxxopts::value<std::string>()->default_value("256M"))(
      "seconds", "Rough time per size and implementation", cxxopts::value<double>()->default_value("0.5"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  const int m = r["ranks"].as<int>();
  ESYNC_CHECK_T(ConfigError, m >= 1 && m <= 16, "--ranks must be 1 to 16");
  const std::size_t lo = parse_bytes(r["min-bytes"].as<std::string>(), "--min-bytes"),
                    hi = parse_bytes(r["max-bytes"].as<std::string>(), "--max-bytes");
  ESYNC_CHECK_T(ConfigError, lo >= 4 && hi >= lo, "need 4 <= --min-bytes <= --max-bytes");
  const double secs = r["seconds"].as<double>();

  // Both implementations stay connected for the whole run; sizes alternate between them.
  std::vector<Rank> ours(static_cast<std::size_t>(m)), raw(static_cast<std::size_t>(m));
  {
    auto store = comm::make_memory_store();
    auto hash = std::make_shared<gloo::rendezvous::HashStore>();
    std::vector<std::thread> t;
    for (int i = 0; i < m; ++i)
      t.emplace_back([&, i] {
        ours[static_cast<std::size_t>(i)] = esync_rank(i, m, store);
        raw[static_cast<std::size_t>(i)] = raw_gloo_rank(i, m, hash);
      });
    for (auto& th : t) th.join();
  }
  BenchTable table("allreduce",
                   {"bytes", "esync_us", "esync_algbw_GBs", "esync_busbw_GBs", "esync_#wrong", "gloo_us",
                    "gloo_algbw_GBs", "gloo_busbw_GBs", "gloo_#wrong", "esync/gloo time"});
  const double bus = m > 1 ? 2.0 * (m - 1) / m : 1.0;  // bytes each rank moves per byte reduced (ring)
  std::uint64_t wrong = 0;
  for (std::size_t bytes = lo; bytes <= hi; bytes *= 4) {
    const std::size_t n = bytes / sizeof(float);
    const auto a = measure(ours, n, secs), b = measure(raw, n, secs);
    const double alg_a = double(bytes) / a.seconds / 1e9, alg_b = double(bytes) / b.seconds / 1e9;
    table.add_row({bytes, a.seconds * 1e6, alg_a, alg_a * bus, a.wrong, b.seconds * 1e6, alg_b, alg_b * bus,
                   b.wrong, a.seconds / b.seconds});
    wrong += a.wrong + b.wrong;
  }
  table.set("ranks", m);
  table.set("transport", "gloo TCP over 127.0.0.1, ranks as threads");
  table.print();
  // A wrong sum is a broken collective, not a slow one: the figures above mean nothing then.
  if (wrong > 0) {
    std::fprintf(stderr, "esync bench allreduce: %llu elements reduced wrongly (columns #wrong)\n",
                 static_cast<unsigned long long>(wrong));
    return 1;
  }
  return 0;
}

}  // namespace esync::cli
