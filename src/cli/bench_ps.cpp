// esync bench ps: parameter-server goodput (push + pull of a model of N bytes, in one round
// trip, spread over S shards) against raw ZeroMQ moving the same bytes the same way in the same
// run: S echo servers (ROUTER) and one DEALER per server, the slice out and back. Goodput counts
// 2 x N bytes per round trip. The shards apply a real rule (async, plain SGD at lr 0, so the
// weights stay put and the check stays exact): the figure includes the server's kernel pass.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <zmq_addon.hpp>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "esync/bench_table.hpp"
#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "esync/ps_client.hpp"
#include "esync/ps_server.hpp"

namespace esync::cli {
namespace {

double median_of(std::vector<double> t) {
  std::nth_element(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(t.size() / 2), t.end());
  return t[t.size() / 2];
}

int reps_for(std::size_t bytes, double secs) {
  return static_cast<int>(std::clamp(secs / (1e-4 + double(bytes) / 1e9), 5.0, 500.0));
}

// Median round-trip seconds through the PS, and whether the weights came back intact.
std::pair<double, bool> time_ps(std::size_t n, int shards, double secs) {
  const std::string token = "bench-token";
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<ps::ShardServer>> servers;
  std::vector<std::string> endpoints;
  for (int s = 0; s < shards; ++s) {
    ps::ShardConfig c;
    c.shard = s;
    c.shards = shards;
    c.token = token;
    c.rule.rule = "async";
    c.rule.opt.kind = "sgd";
    c.rule.opt.lr = 0.0f;
    servers.push_back(std::make_unique<ps::ShardServer>(c));
    endpoints.push_back(servers.back()->endpoint());
  }
  std::vector<std::thread> threads;
  for (auto& s : servers) threads.emplace_back([&, p = s.get()] { p->run(stop); });
  std::vector<float> w(n), g(n, 1.0f);
  for (std::size_t i = 0; i < n; ++i) w[i] = float(i % 1000);
  const std::vector<float> init = w;
  std::vector<double> t;
  {
    ps::PsClient client(endpoints, token, 0, 1, n, std::chrono::milliseconds(60000));
    client.init(w.data());
    client.pull(w.data());
    client.push_pull(w.data(), g.data(), 1, false);  // warm-up
    const int reps = reps_for(n * sizeof(float), secs);
    for (int k = 0; k < reps; ++k) {
      const double t0 = mono_s();
      client.push_pull(w.data(), g.data(), 1, false);
      t.push_back(mono_s() - t0);
    }
    client.leave("ok");
  }
  stop = true;
  for (auto& th : threads) th.join();
  return {median_of(t), w == init};
}

// Median round-trip seconds of raw ZeroMQ moving the same slices out and back.
double time_zmq(std::size_t n, int shards, double secs) {
  zmq::context_t ctx(1);
  std::atomic<bool> stop{false};
  std::vector<zmq::socket_t> routers;
  std::vector<std::string> endpoints;
  for (int s = 0; s < shards; ++s) {
    routers.emplace_back(ctx, zmq::socket_type::router);
    routers.back().bind("tcp://127.0.0.1:*");
    endpoints.push_back(routers.back().get(zmq::sockopt::last_endpoint));
  }
  std::vector<std::thread> echo;
  for (auto& r : routers)
    echo.emplace_back([&, sock = &r] {
      zmq::pollitem_t item{sock->handle(), 0, ZMQ_POLLIN, 0};
      while (!stop) {
        if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) == 0) continue;
        std::vector<zmq::message_t> frames;  // [identity, payload]: sent straight back
        if (zmq::recv_multipart(*sock, std::back_inserter(frames))) zmq::send_multipart(*sock, frames);
      }
    });
  std::vector<zmq::socket_t> dealers;
  for (const auto& ep : endpoints) {
    dealers.emplace_back(ctx, zmq::socket_type::dealer);
    dealers.back().connect(ep);
  }
  std::vector<float> buf(n, 1.0f);
  const std::size_t slice = (n + static_cast<std::size_t>(shards) - 1) / static_cast<std::size_t>(shards);
  auto round_trip = [&] {
    for (std::size_t s = 0; s < dealers.size(); ++s) {
      const std::size_t lo = std::min(n, s * slice), hi = std::min(n, lo + slice);
      dealers[s].send(zmq::message_t(buf.data() + lo, (hi - lo) * sizeof(float), nullptr, nullptr),
                      zmq::send_flags::none);
    }
    for (std::size_t s = 0; s < dealers.size(); ++s) {
      zmq::message_t back;
      ESYNC_CHECK_T(TimeoutError, dealers[s].recv(back), "raw ZeroMQ echo did not answer");
      const std::size_t lo = std::min(n, s * slice);
      std::memcpy(buf.data() + lo, back.data(), back.size());  // as the PS client copies its reply
    }
  };
  round_trip();
  std::vector<double> t;
  const int reps = reps_for(n * sizeof(float), secs);
  for (int k = 0; k < reps; ++k) {
    const double t0 = mono_s();
    round_trip();
    t.push_back(mono_s() - t0);
  }
  stop = true;
  for (auto& th : echo) th.join();
  return median_of(t);
}

}  // namespace

int bench_ps(int argc, char** argv) {
  cxxopts::Options o("esync bench ps",
                     "Parameter-server push+pull goodput vs model size and shards, against raw ZeroMQ.");
  o.add_options()("shards", "Shard counts to try, e.g. 1,2,4",
                  cxxopts::value<std::string>()->default_value("1,2,4"))(
      "min-bytes", "Smallest model", cxxopts::value<std::string>()->default_value("4K"))(
      "max-bytes", "Largest model", cxxopts::value<std::string>()->default_value("64M"))(
      "seconds", "Rough time per point and implementation", cxxopts::value<double>()->default_value("0.5"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  const auto shard_list = parse_list(r["shards"].as<std::string>(), "--shards");
  const std::size_t lo = parse_bytes(r["min-bytes"].as<std::string>(), "--min-bytes"),
                    hi = parse_bytes(r["max-bytes"].as<std::string>(), "--max-bytes");
  ESYNC_CHECK_T(ConfigError, lo >= 4 && hi >= lo, "need 4 <= --min-bytes <= --max-bytes");
  const double secs = r["seconds"].as<double>();
  BenchTable table("ps",
                   {"bytes", "shards", "ps_us", "ps_GBs", "intact", "zmq_us", "zmq_GBs", "ps/zmq goodput"});
  for (const double sd : shard_list) {
    const int shards = static_cast<int>(sd);
    ESYNC_CHECK_T(ConfigError, shards >= 1 && shards <= 64, "--shards: 1 to 64 each");
    for (std::size_t bytes = lo; bytes <= hi; bytes *= 4) {
      const std::size_t n = bytes / sizeof(float);
      const auto [ps_s, intact] = time_ps(n, shards, secs);
      const double zmq_s = time_zmq(n, shards, secs);
      const double g_ps = 2.0 * double(bytes) / ps_s / 1e9, g_zmq = 2.0 * double(bytes) / zmq_s / 1e9;
      table.add_row({bytes, shards, ps_s * 1e6, g_ps, intact, zmq_s * 1e6, g_zmq, g_ps / g_zmq});
    }
  }
  table.set("transport", "ZeroMQ TCP over 127.0.0.1, shards and the worker as threads of this process");
  table.print();
  return 0;
}

}  // namespace esync::cli
