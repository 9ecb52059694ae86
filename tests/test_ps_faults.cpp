// Malformed input at a shard while a job runs, and a worker that never pushes: counted and
// survived, the job's result still exact, nobody hangs. No test asserts a timing.
#include "ps_test_util.hpp"

using namespace esync;
using namespace esync::ps;
using namespace esync::test;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------------------------------------
// Malformed input while a job runs

std::string header_bytes(wire::MsgType t, std::uint64_t payload, std::uint32_t rank = 0,
                         std::uint64_t round = 0, std::uint64_t job = 1) {
  wire::Header h;
  h.type = t;
  h.job_id = job;
  h.rank = rank;
  h.round = round;
  h.payload_bytes = payload;
  const auto b = wire::encode(h);
  return std::string(b.begin(), b.end());
}

// A message: header (payload computed from the frames unless given), body, tensor frames.
std::vector<std::string> frames(wire::MsgType t, const std::string& body,
                                std::vector<std::string> tensors = {}, std::uint32_t rank = 0,
                                long payload = -1) {
  std::uint64_t p = body.size();
  for (const auto& f : tensors) p += f.size();
  std::vector<std::string> out{header_bytes(t, payload < 0 ? p : std::uint64_t(payload), rank), body};
  for (auto& f : tensors) out.push_back(std::move(f));
  return out;
}

std::string float_frame(std::size_t count, float v = 1.0f) {
  std::string s(count * sizeof(float), '\0');
  for (std::size_t i = 0; i < count; ++i) std::memcpy(s.data() + i * sizeof(float), &v, sizeof(float));
  return s;
}

TEST(PsServer, MalformedInputIsCountedAndTheJobStaysExact) {
  const std::size_t n = 1001;
  const int workers = 2, rounds = 3;
  Job job(1, "sync-grad", workers);
  std::atomic<bool> raw_done{false};
  std::atomic<bool> first_round_done{false};

  std::thread good([&] {
    run_ranks(workers, [&](int rank) {
      PsClient client(job.endpoints, kToken, rank, 1, n, 5s);
      auto w = start_from_init(client, rank, n);
      std::vector<float> g(n);
      for (std::size_t i = 0; i < n; ++i) g[i] = grad_value(rank, i);
      for (int round = 1; round <= rounds; ++round) {
        if (round == 2) {  // the bad traffic arrives while the job is running; wait (bounded) for it
          if (rank == 0) first_round_done = true;
          const auto deadline = std::chrono::steady_clock::now() + 10s;
          while (!raw_done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
        }
        client.push_pull(w.data(), g.data(), 1.0, false);
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < n; ++i)
          wrong += w[i] != float(double(init_value(i)) - round * 1.5 * double(1 << (i % 4)));
        EXPECT_EQ(wrong, 0u) << "rank " << rank << " round " << round;
      }
      client.leave("done");
    });
  });

  // Start the bad traffic once the good workers are in the job (weights set, round 1 done).
  {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!first_round_done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
  }
  zmq::context_t ctx;
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(job.endpoints[0]);
  std::mt19937 rng(7);
  using T = wire::MsgType;
  std::vector<std::vector<std::string>> bad;  // in order; each entry: frames of one message
  int malformed = 0, rejected = 0, replies = 0;
  for (int i = 0; i < 20; ++i) {  // random bytes, one to three frames
    std::vector<std::string> msg;
    const int nframes = 1 + int(rng() % 3);
    for (int f = 0; f < nframes; ++f) {
      std::string junk(static_cast<std::size_t>(rng() % 100), '\0');
      for (auto& c : junk) c = static_cast<char>(rng());
      msg.push_back(std::move(junk));
    }
    bad.push_back(std::move(msg));
    ++malformed;
  }
  const std::string good_register = R"({"token":"test-token","rank":1})";
  auto hs = header_bytes(T::kRegister, good_register.size());
  bad.push_back({hs.substr(0, 20), good_register});  // truncated header
  ++malformed;
  auto wrong_magic = hs;
  wrong_magic[0] ^= 0x55;
  bad.push_back({wrong_magic, good_register});
  ++malformed;
  auto wrong_version = hs;
  wrong_version[4] = 9;
  bad.push_back({wrong_version, good_register});
  ++malformed;
  bad.push_back(
      frames(T::kRegister, good_register, {}, 0, long(good_register.size()) + 4));  // payload mismatch
  ++malformed;
  bad.push_back(frames(T::kPush, "[1,2,3]", {float_frame(n)}, 1));  // body not an object
  ++malformed;
  bad.push_back(frames(T::kPush, "{x}", {float_frame(n)}, 1));  // body not JSON
  ++malformed;
  bad.push_back(frames(T::kPush, R"({"samples":1})", {float_frame(n)}, 1));  // push before registering
  ++rejected, ++replies;
  bad.push_back(frames(T::kPull, "{}", {}, 1));  // pull before registering
  ++rejected, ++replies;
  bad.push_back(frames(T::kRegister, R"({"token":"wrong-token","rank":1})"));  // wrong token
  ++rejected, ++replies;
  bad.push_back(frames(T::kRegister, R"({"token":"test-token","rank":99})"));  // rank out of range
  ++rejected, ++replies;
  bad.push_back(frames(T::kRegister, good_register));  // correct: not counted, acknowledged
  ++replies;
  bad.push_back(frames(T::kPush, "[]", {}, 1));  // non-object body from a registered peer
  ++malformed;
  bad.push_back(frames(T::kPush, R"({"samples":1})", {float_frame(n + 1)}, 1, -1));  // wrong slice size
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"samples":1})", {float_frame(n - 1)}, 1, -1));  // short slice
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"samples":1})", {}, 1));  // no slice at all
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"stop":false})", {float_frame(n)}, 1));  // samples missing
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"samples":"many"})", {float_frame(n)}, 1));  // samples not a number
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"samples":1})", {float_frame(n)}, 0));  // header rank is not ours
  ++malformed, ++replies;
  bad.push_back(frames(T::kKvSet, R"({"key":"a","value":"b"})", {}, 1));  // not a PS message
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"init":true,"n":1001})", {float_frame(n)}, 1));  // init from rank 1
  ++malformed, ++replies;

  for (const auto& msg : bad)
    for (std::size_t i = 0; i < msg.size(); ++i)
      raw.send(zmq::buffer(msg[i]), i + 1 < msg.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  // Fence: the last bad message that gets an answer was processed after everything before it
  // from this connection (one connection is served in order).
  int got = 0, acks = 0, rejects = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got < replies && std::chrono::steady_clock::now() < deadline) {
    std::optional<wire::Message> m;
    try {
      m = wire::recv(raw, 100ms, /*router=*/false);
    } catch (const ProtocolError& e) {
      ADD_FAILURE() << "the shard sent a malformed reply: " << e.what();
      continue;
    }
    if (!m) continue;
    ++got;
    acks += m->header.type == T::kAck;
    rejects += m->header.type == T::kReject;
  }
  EXPECT_EQ(got, replies);
  EXPECT_EQ(acks, 1);
  EXPECT_EQ(rejects, replies - 1);
  raw_done = true;
  good.join();
  job.finish();
  const auto st = job.shard[0]->server.stats();
  EXPECT_GE(st.malformed + st.rejected, std::uint64_t(malformed + rejected));
  EXPECT_EQ(st.malformed, std::uint64_t(malformed));
  EXPECT_EQ(st.rejected, std::uint64_t(rejected));
  EXPECT_EQ(st.pushes, std::uint64_t(workers * rounds));
  EXPECT_EQ(st.lost, 0u);
}

// ---------------------------------------------------------------------------------------------
// A worker that registers but never pushes

// Waits, bounded, until flag >= target (a failing peer must not hang the test).
void wait_for(const std::atomic<int>& flag, int target, std::chrono::milliseconds limit = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (flag.load() < target && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
}

TEST(PsServer, SilentWorkerIsDroppedAndTheRoundCompletes) {
  const std::size_t n = 1001;
  Job job(1, "sync-grad", 3, 300ms);
  std::atomic<int> silent_ready{0}, pushed{0}, checked{0};
  std::thread rank2([&] {
    try {
      PsClient silent(job.endpoints, kToken, 2, 1, n, 3s);
      std::vector<float> w(n);
      silent.pull(w.data());
      silent_ready = 1;
      wait_for(pushed, 2);  // ranks 0 and 1 got their round without us
      std::vector<float> g(n, 1.0f);
      // Dropped: a late push is refused, not answered with weights.
      EXPECT_THROW(silent.push_pull(w.data(), g.data(), 1.0, false), PeerLostError);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "silent rank: " << e.what();
    }
    silent_ready = 1;
    checked = 1;
  });
  run_ranks(2, [&](int rank) {
    PsClient client(job.endpoints, kToken, rank, 1, n, 3s);  // push_pull waits at most 2 x 3 s
    auto w = start_from_init(client, rank, n);
    std::vector<float> g(n);
    wait_for(silent_ready, 1);
    for (std::size_t i = 0; i < n; ++i) g[i] = grad_value(rank, i);
    try {
      const auto r = client.push_pull(w.data(), g.data(), 1.0, false);
      EXPECT_EQ(r.version, 1u);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < n; ++i)
        wrong += w[i] != float(double(init_value(i)) - 1.5 * double(1 << (i % 4)));
      EXPECT_EQ(wrong, 0u) << "rank " << rank << ": the round of the two live workers";
    } catch (...) {
      ++pushed;
      throw;
    }
    ++pushed;
    wait_for(checked, 1);
    client.leave("done");
  });
  rank2.join();
  job.finish();
  const auto st = job.shard[0]->server.stats();
  EXPECT_EQ(st.lost, 1u);
  EXPECT_EQ(st.pushes, 2u);
}

// The state server declared a worker lost (its heartbeats stopped): the shard drops it at once,
// long before its own wait timeout (60 s here, longer than the clients' 20 s: only the drop can
// complete the round in time), and the survivors' round completes without it.
TEST(PsServer, WorkerLostByTheStateServerIsDroppedAtOnce) {
  const std::size_t n = 1001;
  Job job(1, "sync-grad", 3, 60s);
  std::atomic<int> silent_ready{0}, pushed{0};
  std::thread rank2([&] {
    PsClient silent(job.endpoints, kToken, 2, 1, n, 20s);
    std::vector<float> w(n);
    silent.pull(w.data());
    silent_ready = 1;
    wait_for(pushed, 2);
  });
  std::thread coordinator([&] {  // what the shard process's watcher does on "lost/0" = 2
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (job.shard[0]->server.stats().pushes < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(2ms);
    job.shard[0]->server.worker_lost(2);
  });
  run_ranks(2, [&](int rank) {
    PsClient client(job.endpoints, kToken, rank, 1, n, 20s);
    auto w = start_from_init(client, rank, n);
    wait_for(silent_ready, 1);
    std::vector<float> g(n);
    for (std::size_t i = 0; i < n; ++i) g[i] = grad_value(rank, i);
    try {
      EXPECT_EQ(client.push_pull(w.data(), g.data(), 1.0, false).version, 1u);
    } catch (...) {
      ++pushed;
      throw;
    }
    ++pushed;
    client.leave("done");
  });
  coordinator.join();
  rank2.join();
  job.finish();
  EXPECT_EQ(job.shard[0]->server.stats().lost, 1u);
}

}  // namespace
