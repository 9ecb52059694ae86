#pragma once
// Helpers for the parameter-server tests: a shard serving on its own thread, a job of shards,
// and ranks as threads whose errors fail the test.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>
#include <zmq.hpp>

#include "esync/error.hpp"
#include "esync/message.hpp"
#include "esync/ps_client.hpp"
#include "esync/ps_rules.hpp"
#include "esync/ps_server.hpp"
#include "esync/wire.hpp"
#include "test_util.hpp"

namespace esync::test {

using namespace esync::ps;
using namespace std::chrono_literals;

constexpr const char* kToken = "test-token";

// A shard serving on its own thread. run() returns by itself once every worker has left.
struct Shard {
  explicit Shard(ShardConfig cfg)
      : server(std::move(cfg)), t([this] {
          try {
            server.run(stop);
          } catch (...) {
            error = std::current_exception();
          }
          done = true;
        }) {}
  ~Shard() {
    stop = true;
    if (t.joinable()) t.join();
  }
  // Waits (bounded) for run() to return by itself; false if it had to be stopped.
  bool finish(std::chrono::milliseconds wait = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    const bool by_itself = done;
    stop = true;
    t.join();
    return by_itself;
  }
  std::string error_text() const {
    if (!error) return "";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "?";
  }

  ShardServer server;
  std::atomic<bool> stop{false}, done{false};
  std::exception_ptr error;
  std::thread t;
};

inline ShardConfig shard_cfg(int shard, int shards, const std::string& rule, int workers,
                             std::chrono::milliseconds timeout = 10s) {
  ShardConfig c;
  c.shard = shard;
  c.shards = shards;
  c.bind = "127.0.0.1";
  c.port = 0;
  c.rule.rule = rule;
  c.rule.workers = workers;
  c.rule.opt.kind = "sgd";
  c.rule.opt.lr = 1.0f;
  c.token = kToken;
  c.job_id = 1;
  c.timeout = timeout;
  return c;
}

struct Job {
  Job(int shards, const std::string& rule, int workers, std::chrono::milliseconds timeout = 10s) {
    for (int s = 0; s < shards; ++s) {
      shard.push_back(std::make_unique<Shard>(shard_cfg(s, shards, rule, workers, timeout)));
      endpoints.push_back(shard.back()->server.endpoint());
    }
  }
  // Every shard ends by itself, without an error.
  void finish() {
    for (std::size_t s = 0; s < shard.size(); ++s) {
      EXPECT_TRUE(shard[s]->finish(5s)) << "shard " << s << " did not end when every worker had left";
      EXPECT_EQ(shard[s]->error_text(), "") << "shard " << s;
    }
  }
  std::vector<std::unique_ptr<Shard>> shard;
  std::vector<std::string> endpoints;
};

// Runs body(rank) on `size` threads and fails the test with each rank's error.
template <typename Body>
void run_ranks(int size, Body body) {
  expect_no_rank_errors(run_threads(size, body));
}

// Integer-valued data: every sum and every mean below is exact in float (the per-element
// factor is a power of two, so even a mean over 7 workers rounds to the exact value).
inline float init_value(std::size_t i) { return float(int(i % 1000) - 500); }
inline float grad_value(int rank, std::size_t i) { return float((rank + 1) * (1 << (i % 4))); }

// How a job's workers start: rank 0 sets the shards' weights to init_value, every other rank
// pulls them (a shard holds a pull until the weights are set). Returns this rank's weights.
inline std::vector<float> start_from_init(ps::PsClient& client, int rank, std::size_t n) {
  std::vector<float> w(n);
  if (rank == 0) {
    for (std::size_t i = 0; i < n; ++i) w[i] = init_value(i);
    client.init(w.data());
  } else {
    client.pull(w.data());
  }
  return w;
}

}  // namespace esync::test
