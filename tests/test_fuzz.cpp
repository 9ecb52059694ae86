// Fuzz: 100 000 malformed messages at the coordinator and at a parameter-server shard while a real
// job runs on them (ranks as threads). Every message is built to meet a known fate, so the servers'
// counters must match exactly: a frame-level defect fails in wire::recv (malformed), a decodable
// message its handler refuses is malformed too, a registration with a wrong token or an impossible
// rank is rejected. The job's results must be exactly what they are without the noise.
// Reproducible: one std::mt19937_64 with a fixed seed makes every message (fuzz_util.hpp).
#include "esync/coord_client.hpp"
#include "esync/coordinator.hpp"
#include "fuzz_util.hpp"

using namespace esync;
using namespace esync::ps;
using namespace esync::test;
using namespace esync::test::fuzz;

namespace {

constexpr const char* kCoordToken = "fuzz-token-0123456789abcdef01234";

// ---------------------------------------------------------------------------------------------
// The coordinator: 3 workers run assign-policy rounds and a key-value rendezvous every round
// while two unregistered DEALERs fuzz it. Speeds 4:2:1 must give K = 4, 2, 1 from round 2 on.

TEST(Fuzz, CoordinatorCountsEveryBadMessageAndTheJobIsUnchanged) {
  const int W = 3;
  const double step[W] = {0.01, 0.02, 0.04};
  const int want_k[W] = {4, 2, 1};
  coord::CoordinatorConfig cfg;
  cfg.workers = W;
  cfg.token = kCoordToken;
  cfg.status = false;
  coord::Coordinator co(cfg);
  const std::string ep = "127.0.0.1:" + std::to_string(co.port());
  std::atomic<bool> stop{false}, served{false}, fuzz_done{false};
  std::thread server([&] {
    co.run(stop);  // returns by itself once every worker said goodbye; an exception kills the test
    served = true;
  });
  std::atomic<u64> calls{0};  // every client call is exactly one message at the coordinator
  std::vector<int> rounds(W, 0);
  std::thread job([&] {
    run_ranks(W, [&](int rank) {
      coord::CoordinatorClient c(ep, kCoordToken, 10s);
      c.register_worker("cpu", "h", rank);
      ++calls;
      for (int r = 1;; ++r) {
        std::this_thread::sleep_for(1ms);  // the round's compute
        const int k = c.report(u64(r), 1, step[rank]);
        EXPECT_TRUE(r < 2 || k == want_k[rank]) << "rank " << rank << " round " << r << ": K " << k;
        // Rank 0 says when the job ends (after the fuzz), so every rank runs the same rounds.
        const bool last = rank == 0 && ((fuzz_done && r >= 3) || r >= 100000);
        auto value = [&](int j, int kj) { return fmt("r%dw%dk%d", r, j, kj); };
        c.kv_set(fmt("r%d/%d", r, rank), value(rank, k) + (last ? "|last" : ""));
        calls += 2;
        bool end = last;
        for (int j = 0; j < W; ++j) {
          if (j == rank) continue;
          const std::string v = c.kv_get(fmt("r%d/%d", r, j), 10s);
          ++calls;
          const std::string want =
              r >= 2 ? value(j, want_k[j]) : value(j, 0).substr(0, 5);  // K of round 1: any
          EXPECT_TRUE(r >= 2 ? v == want || (j == 0 && v == want + "|last") : v.starts_with(want))
              << "rank " << rank << " read " << v;
          end = end || (j == 0 && v.ends_with("|last"));
        }
        rounds[rank] = r;
        if (end) break;
      }
      c.goodbye("ok");
      ++calls;
    });
  });

  // Wrong-token registrations are logged on stderr, one line each: capture them to count them
  // and to check that the job token never appears in full.
  CaptureStderr err("fuzz");
  Gen g;
  u64 token_lines = 0;
  zmq::context_t ctx;
  auto socks = fuzz_sockets(ctx, "tcp://" + ep, 2);  // two unregistered senders
  using nlohmann::json;
  auto reg = [&](json body, Fate fate, int s) {  // a registration: only a rejected one is answered
    return msg(u64(T::kRegister), 1, 0, body.dump(), fate, fate == Fate::kRejected, s);
  };
  auto make = [&]() -> Msg {
    const int s = int(g.below(2));
    const u64 pick = g.below(9);
    if (pick < 4) return {g.bad_frames(), Fate::kBadFrame, false, s};
    switch (pick) {
      case 4:  // a rank that never registered (any type: the coordinator checks the rank first)
        return msg(g.any_type_but_register(), 1, W + g.below(2) * g.below(1u << 31), g.object(),
                   Fate::kRefused, false, s);
      case 5:  // a registered rank, another job's id
        return msg(g.any_type_but_register(), 2 + g.below(1000), g.below(W), g.object(), Fate::kRefused,
                   false, s);
      case 6:  // a wrong token, as a worker or as a server (each logged: one stderr line)
        ++token_lines;
        return reg(g.below(4)
                       ? json{{"token", g.wrong_token(kCoordToken)}, {"host", "fuzz"}, {"rank", g.below(W)}}
                       : json{{"token", g.wrong_token(kCoordToken)}, {"role", "server"}, {"shard", 0}},
                   Fate::kRejected, s);
      case 7:  // the right token, but a rank or a shard this job does not have
        return reg(g.below(2) ? json{{"token", kCoordToken}, {"rank", W + g.below(100)}}
                              : json{{"token", kCoordToken}, {"role", "server"}, {"shard", g.below(5)}},
                   Fate::kRejected, s);
      default: {  // a field of the wrong type (the last three with the right token, so it is read at all)
        const json bodies[] = {{{"token", 5}},
                               {{"token", json::array({"x"})}},
                               {{"token", "x"}, {"host", 7}},
                               {{"token", "x"}, {"device", json::object()}},
                               {{"token", kCoordToken}, {"rank", "0"}},
                               {{"token", kCoordToken}, {"rank", json::array({0})}},
                               {{"token", kCoordToken}, {"role", 5}}};
        return reg(bodies[g.below(7)], Fate::kRefused, s);
      }
    }
  };
  const Tally t = run_fuzz(socks, make, [&] {
    const auto st = co.stats();
    return std::pair{st.malformed, st.rejected};
  });
  err.restore();
  fuzz_done = true;
  job.join();
  wait_until(served);
  stop = true;
  server.join();
  EXPECT_TRUE(served) << "the coordinator did not end after every worker said goodbye";

  const auto st = co.stats();
  expect_counted("coordinator", t, st.malformed, st.rejected);
  EXPECT_EQ(st.messages, calls + t.refused + t.rejected);  // bad frames never become messages
  EXPECT_EQ(st.registered, u64(W));
  EXPECT_EQ(st.lost, 0u);
  EXPECT_GE(rounds[0], 3);
  EXPECT_EQ(rounds, std::vector<int>(W, rounds[0])) << "every rank ran the same rounds";
  const std::string text = err.text();
  EXPECT_EQ(u64(std::count(text.begin(), text.end(), '\n')), token_lines) << text.substr(0, 500);
  EXPECT_EQ(text.find(kCoordToken), std::string::npos) << "the job token was logged in full";
  std::printf("fuzz coordinator: %d rounds of the real job ran alongside\n", rounds[0]);
}

// ---------------------------------------------------------------------------------------------
// A shard: 4 workers push integer gradients (sync-grad: mean of a round; async: every push) while
// an unregistered DEALER and one registered as rank 1 fuzz it. The weights must be exact.

class FuzzShard : public ::testing::TestWithParam<const char*> {};

TEST_P(FuzzShard, CountsEveryBadMessageAndTheWeightsStayExact) {
  const std::string rule = GetParam();
  const bool sync = is_sync_rule(rule);
  const int W = 4, kAuth = 1;  // W a power of two: the sync mean (2.5 * 2^k) is exact
  const std::size_t n = 257;
  Job job(1, rule, W);
  std::atomic<bool> weights_set{false}, fuzz_done{false};
  std::atomic<int> finished{0};
  std::vector<int> pushes(W, 0);
  std::thread workers([&] {
    run_ranks(W, [&](int rank) {
      PsClient client(job.endpoints, kToken, rank, 1, n, 10s);
      std::vector<float> w(n), g(n);
      for (std::size_t i = 0; i < n; ++i) w[i] = init_value(i), g[i] = grad_value(rank, i);
      if (rank == 0)
        client.init(w.data()), weights_set = true;
      else
        client.pull(w.data());
      for (int p = 1;; ++p) {
        std::this_thread::sleep_for(200us);  // the step's compute
        // Sync: rank 0 votes to stop once the fuzz is over; every rank sees the vote in the
        // reply of the same round, so all run the same rounds. Async: each stops on its own.
        const bool vote = sync && rank == 0 && ((fuzz_done && p >= 2) || p >= 100000);
        const auto r = client.push_pull(w.data(), g.data(), 1.0, vote);
        pushes[rank] = p;
        if (sync) {
          std::size_t wrong = 0;
          for (std::size_t i = 0; i < n; ++i)
            wrong += w[i] != float(init_value(i) - p * 2.5 * double(1 << (i % 4)));
          EXPECT_EQ(wrong, 0u) << "rank " << rank << " round " << p;
          EXPECT_EQ(r.version, u64(p));
        }
        if (sync ? r.stop : (fuzz_done && p >= 2) || p >= 100000) break;
      }
      ++finished;
      if (rank == 0) {  // the final weights, once every rank has pushed its last
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (finished < W && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
        client.pull(w.data());
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < n; ++i) {
          double sum = 0;  // sync: mean per round x rounds; async: every push of every rank
          for (int q = 0; q < W; ++q) sum += sync ? pushes[0] * (q + 1) / double(W) : pushes[q] * (q + 1.0);
          wrong += w[i] != float(init_value(i) - sum * double(1 << (i % 4)));
        }
        EXPECT_EQ(wrong, 0u) << "final weights of the " << rule << " job";
      }
      client.leave("done");
    });
  });

  wait_until(weights_set);  // the job is under way: the weights are set, pushes flow
  zmq::context_t ctx;
  auto socks = fuzz_sockets(ctx, job.endpoints[0], 2);  // 0: unregistered, 1: registered as rank 1
  const Msg hello =
      msg(u64(T::kRegister), 1, 0, R"({"token":"test-token","rank":1})", Fate::kRejected, false, 1);
  const auto ack = send(socks[1], hello) ? wire::recv(socks[1], 10s, false) : std::nullopt;
  if (!ack || ack->header.type != T::kAck) {  // no ASSERT: the workers must be joined first
    ADD_FAILURE() << "the fuzzer's own registration was not acknowledged";
    fuzz_done = true;
    return workers.join();
  }
  Gen g;
  const std::string slice(n * sizeof(float), '\0');
  using V = std::vector<std::string>;
  auto reg = [&](nlohmann::json body, Fate fate, bool answered) {  // from the unregistered socket
    return msg(u64(T::kRegister), 1, 0, body.dump(), fate, answered, 0);
  };
  auto push = [&](const char* body, V tensors, u64 round = 0) {  // from the registered one, refused
    return msg(u64(T::kPush), 1, kAuth, body, Fate::kRefused, true, 1, std::move(tensors), round);
  };
  auto make = [&]() -> Msg {
    const u64 pick = g.below(10);
    if (pick < 4) return {g.bad_frames(), Fate::kBadFrame, false, int(g.below(2))};
    const int bad_rank = g.below(2) ? W + int(g.below(1000)) : -1 - int(g.below(1000));
    switch (pick) {
      case 4:  // unregistered: anything but a registration is turned away
        return msg(g.any_type_but_register(), 1, g.below(W), g.object(), Fate::kRejected, true, 0,
                   g.below(2) ? V{slice} : V{});
      case 5:  // a registration with a wrong token, or the right token and a rank the job does not have
        return g.below(2)
                   ? reg({{"token", g.wrong_token(kToken)}, {"rank", g.below(W)}}, Fate::kRejected, true)
                   : reg({{"token", kToken}, {"rank", bad_rank}}, Fate::kRejected, true);
      case 6: {  // a registration with a field of the wrong type
        const nlohmann::json bodies[] = {{{"token", 5}, {"rank", 0}},
                                         {{"token", kToken}, {"rank", "0"}},
                                         {{"rank", nlohmann::json::array({1})}}};
        return reg(bodies[g.below(3)], Fate::kRefused, false);
      }
      case 7: {  // registered, but the header names another rank or job
        const bool rank_off = g.below(2);
        return msg(g.any_type_but_register(), rank_off ? 1 : 2 + g.below(1000),
                   rank_off ? (kAuth + 1 + g.below(1000)) % (W + 1000) : kAuth, g.object(), Fate::kRefused,
                   true, 1);
      }
      case 8: {  // registered, right rank and job: a type no shard takes
        u64 t = g.any_type_but_register();
        while (t == u64(T::kPush) || t == u64(T::kPull) || t == u64(T::kShutdown))
          t = g.any_type_but_register();
        return msg(t, 1, kAuth, g.object(), Fate::kRefused, true, 1);
      }
      default: {  // registered, right rank and job: a push the shard must refuse before applying it
        static const char* bodies[] = {R"({"samples":-1})", R"({"init":true,"n":257})", R"({"samples":"x"})",
                                       "{}"};
        const u64 v = g.below(6);
        if (v == 0) return push(R"({"samples":1})", {slice}, u64{1} << 40);  // based on a future version
        if (v == 1) return push(R"({"samples":1})", g.below(2) ? V{slice.substr(4 * (1 + g.below(n)))} : V{});
        return push(bodies[v - 2], {slice});  // negative, init again, not a number, missing
      }
    }
  };
  const Tally t = run_fuzz(socks, make, [&] {
    const auto st = job.shard[0]->server.stats();
    return std::pair{st.malformed, st.rejected};
  });
  fuzz_done = true;
  workers.join();
  job.finish();

  const auto st = job.shard[0]->server.stats();
  expect_counted(rule.c_str(), t, st.malformed, st.rejected);
  u64 total = 0;
  for (const int p : pushes) total += u64(p);
  std::printf("fuzz %s: %llu pushes of the real job ran alongside\n", rule.c_str(),
              (unsigned long long)total);
  // Messages: per rank register, init or pull, its pushes, leave; rank 0's final pull; the
  // fuzzer's registration; every fuzz message that decoded.
  EXPECT_EQ(st.messages, total + 3u * W + 1 + 1 + t.refused + t.rejected);
  EXPECT_EQ(st.pushes, total);
  EXPECT_EQ(st.version, sync ? u64(pushes[0]) : total);
  EXPECT_TRUE(!sync || pushes == std::vector<int>(W, pushes[0])) << "every rank ran the same rounds";
  EXPECT_EQ(st.lost, 0u);
}

// Rank 0's init declaring n = 2^62 + 1 elements with a 4-byte slice: n * 4 wraps to 4, so the size
// check by multiplication passed, the pointer arithmetic wrapped too (undefined behaviour) and the
// shard took a one-float model while believing in 2^62 + 1. It must be refused like any wrong size.
TEST(Fuzz, InitWhoseSizeOverflowsIsRefused) {
  Job job(1, "async", 1);
  zmq::context_t ctx;
  auto socks = fuzz_sockets(ctx, job.endpoints[0], 1);
  auto call = [&](const Msg& m) {
    const auto r = send(socks[0], m) ? wire::recv(socks[0], 10s, false) : std::nullopt;
    return r ? r->header.type : T::kHeartbeat;
  };
  EXPECT_EQ(
      call(msg(u64(T::kRegister), 1, 0, R"({"token":"test-token","rank":0})", Fate::kRejected, true, 0)),
      T::kAck);
  EXPECT_EQ(call(msg(u64(T::kPush), 1, 0, R"({"init":true,"n":4611686018427387905})", Fate::kRefused, true, 0,
                     {std::string(4, '\0')})),
            T::kReject);
  PsClient client(job.endpoints, kToken, 0, 1, 3, 5s);  // the shard still serves: a real init works
  std::vector<float> w{1, 2, 3};
  client.init(w.data());
  client.leave("done");
  job.finish();
  EXPECT_EQ(job.shard[0]->server.stats().malformed, 1u);
}

INSTANTIATE_TEST_SUITE_P(Rules, FuzzShard, ::testing::Values("sync-grad", "async"), [](const auto& info) {
  return std::string(info.param) == "async" ? "async" : "sync_grad";
});

}  // namespace
