// esync bench coordinator: how many round reports per second the state server answers, and
// their latency, with many simulated workers. Each round every worker reports at once (the
// worst case: a synchronisation point), so latency includes queueing behind the others. The
// baseline in the same run is the heartbeat: the same round trip with no assignment work.
#include <algorithm>
#include <atomic>
#include <thread>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "esync/bench_table.hpp"
#include "esync/clock.hpp"
#include "esync/coordinator.hpp"
#include "esync/error.hpp"
#include "esync/message.hpp"

namespace esync::cli {
namespace {

using wire::MsgType;

struct Load {
  std::vector<double> latency;  // seconds, one per request
  double seconds = 0;
};

// `threads` client threads, each owning workers/threads DEALER sockets, each registered as one
// worker. Rounds of: every socket sends (type), then every reply is collected.
Load drive(int port, const std::string& token, int workers, int threads, MsgType type, double secs) {
  std::vector<Load> per(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  const double start = mono_s();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      zmq::context_t ctx(1);
      std::vector<zmq::socket_t> socks;
      std::vector<int> ranks;
      for (int r = t; r < workers; r += threads) {
        socks.emplace_back(ctx, zmq::socket_type::dealer);
        socks.back().set(zmq::sockopt::linger, 0);
        socks.back().connect("tcp://127.0.0.1:" + std::to_string(port));
        ranks.push_back(r);
        auto m = wire::make(MsgType::kRegister, 0, 0, 0, {{"token", token}, {"rank", r}, {"host", "bench"}});
        wire::send(socks.back(), m);
        ESYNC_CHECK_T(TimeoutError, wire::recv(socks.back(), std::chrono::seconds(30), false),
                      "no welcome for worker ", r);
      }
      auto& load = per[static_cast<std::size_t>(t)];
      std::vector<double> sent(socks.size());
      for (std::uint64_t round = 1; mono_s() - start < secs; ++round) {
        for (std::size_t i = 0; i < socks.size(); ++i) {
          auto m = wire::make(type, 1, static_cast<std::uint32_t>(ranks[i]), round,
                              {{"k_done", 4}, {"step_s", 0.001 * (1 + ranks[i] % 4)}});
          sent[i] = mono_s();
          wire::send(socks[i], m);
        }
        for (std::size_t i = 0; i < socks.size(); ++i) {
          ESYNC_CHECK_T(TimeoutError, wire::recv(socks[i], std::chrono::seconds(30), false),
                        "no reply for worker ", ranks[i]);
          load.latency.push_back(mono_s() - sent[i]);
        }
      }
    });
  for (auto& th : pool) th.join();
  Load all;
  all.seconds = mono_s() - start;
  for (auto& l : per) all.latency.insert(all.latency.end(), l.latency.begin(), l.latency.end());
  return all;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::ptrdiff_t>(q * double(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[static_cast<std::size_t>(k)];
}

Load run_one(int workers, int threads, MsgType type, double secs) {
  coord::CoordinatorConfig c;
  c.workers = workers;
  c.token = "bench-token";
  c.status = false;
  c.heartbeat_timeout_s = 600;
  coord::Coordinator co(c);
  std::atomic<bool> stop{false};
  std::thread server([&] { co.run(stop); });
  Load l;
  try {
    l = drive(co.port(), c.token, workers, threads, type, secs);
  } catch (...) {
    stop = true;
    server.join();
    throw;
  }
  stop = true;
  server.join();
  return l;
}

}  // namespace

int bench_coordinator(int argc, char** argv) {
  cxxopts::Options o("esync bench coordinator",
                     "State-server round reports per second and latency with many simulated workers.");
  o.add_options()("workers", "Simulated workers", cxxopts::value<int>()->default_value("1024"))(
      "threads", "Client threads driving them", cxxopts::value<int>()->default_value("4"))(
      "seconds", "Duration of each measurement", cxxopts::value<double>()->default_value("3"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  const int workers = r["workers"].as<int>(), threads = r["threads"].as<int>();
  ESYNC_CHECK_T(ConfigError, workers >= 1 && workers <= 65536, "--workers must be 1 to 65536");
  ESYNC_CHECK_T(ConfigError, threads >= 1 && threads <= workers, "--threads must be 1 to --workers");
  const double secs = r["seconds"].as<double>();
  BenchTable table("coordinator", {"request", "workers", "requests", "per_s", "p50_ms", "p99_ms", "max_ms"});
  for (const auto& [name, type] :
       {std::pair{"report (assign K)", MsgType::kReport}, std::pair{"heartbeat", MsgType::kHeartbeat}}) {
    const auto l = run_one(workers, threads, type, secs);
    table.add_row({name, workers, l.latency.size(), double(l.latency.size()) / l.seconds,
                   quantile(l.latency, 0.5) * 1e3, quantile(l.latency, 0.99) * 1e3,
                   quantile(l.latency, 1.0) * 1e3});
  }
  table.set("pattern", "every worker sends at once each round, then waits for its reply");
  table.print();
  return 0;
}

}  // namespace esync::cli
