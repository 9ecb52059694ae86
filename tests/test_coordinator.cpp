// The state server over real ZeroMQ on 127.0.0.1 (random port), workers as threads:
// registration and the token, key-value rendezvous, the assign policy end to end, heartbeats,
// and malformed input that is counted and dropped while the job carries on.
#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <thread>

#include "esync/coord_client.hpp"
#include "esync/coordinator.hpp"
#include "esync/error.hpp"
#include "esync/message.hpp"

using namespace esync;
using namespace std::chrono_literals;

namespace {

struct Running {
  explicit Running(coord::CoordinatorConfig cfg) : c(std::move(cfg)), t([this] { c.run(stop); }) {}
  ~Running() {
    stop = true;
    t.join();
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(c.port()); }
  coord::Coordinator c;
  std::atomic<bool> stop{false};
  std::thread t;
};

coord::CoordinatorConfig config(int workers) {
  coord::CoordinatorConfig cfg;
  cfg.workers = workers;
  cfg.token = "secret-token-0123456789abcdef012";
  cfg.job.mode = "esync";
  cfg.job.model = "lenet5";
  cfg.status = false;
  return cfg;
}

TEST(Coordinator, RegistersRanksAndRejectsWrongToken) {
  Running co(config(2));
  coord::CoordinatorClient bad(co.endpoint(), "wrong-token-0123456789abcdef0123", 2000ms);
  EXPECT_THROW(bad.register_worker("cpu", "h"), ConfigError);
  coord::CoordinatorClient a(co.endpoint(), "secret-token-0123456789abcdef012", 2000ms);
  coord::CoordinatorClient b(co.endpoint(), "secret-token-0123456789abcdef012", 2000ms);
  const auto wb = b.register_worker("cpu", "h", 1);
  const auto wa = a.register_worker("cuda:0", "h");
  EXPECT_EQ(wb.rank, 1);
  EXPECT_EQ(wa.rank, 0);
  EXPECT_EQ(wa.world, 2);
  EXPECT_EQ(wa.job["model"], "lenet5");
  coord::CoordinatorClient c(co.endpoint(), "secret-token-0123456789abcdef012", 2000ms);
  EXPECT_THROW(c.register_worker("cpu", "h"), ConfigError);  // the job is full
  a.goodbye("ok");
  b.goodbye("ok");
  co.t.join();  // run() returns by itself once everyone said goodbye
  co.t = std::thread([] {});
  EXPECT_EQ(co.c.stats().rejected, 2u);
}

// kv_poll: nullopt while the key is missing (the coordinator answers after `wait`), its value
// once set; an answer that arrives after the poll gave up is skipped by its id, not mistaken
// for the next poll's.
TEST(Coordinator, KeyPollingSeesTheKeyOnceSetAndSkipsStaleAnswers) {
  Running co(config(2));
  const std::string tok = "secret-token-0123456789abcdef012";
  coord::CoordinatorClient a(co.endpoint(), tok, 2000ms), b(co.endpoint(), tok, 2000ms);
  a.register_worker("cpu", "h");
  b.register_worker("cpu", "h");
  EXPECT_EQ(b.kv_poll("lost/0", 100ms, 2000ms), std::nullopt);
  // A poll that gives up before the coordinator answers (no slack): its "missing" comes later,
  // and must not be taken for the next poll's answer, of the same key or another. (On a host
  // that stalls the test thread past the answer, the first poll reads it in time: also right.)
  try {
    EXPECT_EQ(b.kv_poll("lost/0", 300ms, 0ms), std::nullopt);
  } catch (const TimeoutError&) {
  }
  a.kv_set("lost/0", "2");
  EXPECT_EQ(b.kv_poll("lost/0", 100ms, 5000ms), std::optional<std::string>("2"));
  try {
    EXPECT_EQ(b.kv_poll("lost/1", 300ms, 0ms), std::nullopt);
  } catch (const TimeoutError&) {
  }
  a.kv_set("lost/1", "7");
  EXPECT_EQ(b.kv_poll("lost/1", 100ms, 5000ms), std::optional<std::string>("7"));
}

TEST(Coordinator, KeyValueRendezvousWaitsAndTimesOut) {
  Running co(config(2));
  const std::string tok = "secret-token-0123456789abcdef012";
  coord::CoordinatorClient a(co.endpoint(), tok, 2000ms), b(co.endpoint(), tok, 2000ms);
  a.register_worker("cpu", "h");
  b.register_worker("cpu", "h");
  std::thread setter([&] {
    std::this_thread::sleep_for(200ms);
    a.kv_set("nccl/id", "00ff");
  });
  EXPECT_EQ(b.kv_get("nccl/id", 5000ms), "00ff");  // blocks until a publishes it
  setter.join();
  try {
    b.kv_get("never", 300ms);
    FAIL();
  } catch (const TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("never"), std::string::npos);
  }
}

TEST(Coordinator, AssignPolicyOverTheWireGives421) {
  Running co(config(3));
  const std::string tok = "secret-token-0123456789abcdef012";
  std::vector<std::unique_ptr<coord::CoordinatorClient>> w;
  for (int i = 0; i < 3; ++i) {
    w.push_back(std::make_unique<coord::CoordinatorClient>(co.endpoint(), tok, 2000ms));
    w.back()->register_worker("cpu", "h", i);
  }
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(w[static_cast<std::size_t>(i)]->report(0, 0, 0.0), 1);  // nothing known: K_base
  const double step[3] = {0.01, 0.02, 0.04};                          // speeds 4 : 2 : 1
  std::vector<int> k(3);
  for (int round = 1; round <= 3; ++round)
    for (int i = 0; i < 3; ++i)
      k[static_cast<std::size_t>(i)] = w[static_cast<std::size_t>(i)]->report(round, 1, step[i]);
  EXPECT_EQ(k, (std::vector<int>{4, 2, 1}));
}

// A report sent ahead (before the round's synchronisation) gets the same plan as a blocking one,
// and a reply nobody asked for any more (the job stopped) is dropped before the next call.
TEST(Coordinator, ReportSentAheadGivesThePlanAndAStaleReplyIsDrained) {
  auto cfg = config(2);
  cfg.job.policy = "deadline";
  Running co(cfg);
  const std::string tok = "secret-token-0123456789abcdef012";
  coord::CoordinatorClient a(co.endpoint(), tok, 2000ms), b(co.endpoint(), tok, 2000ms);
  a.register_worker("cpu", "h", 0);
  b.register_worker("cpu", "h", 1);
  b.report_plan(1, 1, 0.04);  // the slow one: 4x the fast one's step
  a.report_ahead(2, 3, 0.01);
  const auto plan = a.report_plan(2, 99, 99.0);  // the reply to the report sent ahead
  EXPECT_EQ(plan.k, 4);
  EXPECT_DOUBLE_EQ(plan.deadline_s, 0.04);  // K_base 1 x the slowest's step
  EXPECT_DOUBLE_EQ(plan.share, 0.8);        // steps per second 100 of 125
  EXPECT_EQ(b.report_plan(2, 1, 0.04).deadline_s, 0.0) << "the pacer does exactly K";
  a.report_ahead(3, 4, 0.01);                  // the job stops here: the reply stays unread ...
  EXPECT_NO_THROW(a.kv_set("after", "stop"));  // ... and is dropped by the next call
  EXPECT_EQ(a.kv_get("after", 100ms), "stop");
}

TEST(Coordinator, MalformedInputIsCountedDroppedAndHarmless) {
  Running co(config(1));
  const std::string tok = "secret-token-0123456789abcdef012";
  coord::CoordinatorClient good(co.endpoint(), tok, 2000ms);
  good.register_worker("cpu", "h");
  zmq::context_t ctx;
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect("tcp://" + co.endpoint());
  std::mt19937 rng(7);
  auto header = [](wire::MsgType t, std::uint64_t payload, std::uint32_t rank = 0) {
    wire::Header h;
    h.type = t;
    h.job_id = 1;
    h.rank = rank;
    h.payload_bytes = payload;
    return wire::encode(h);
  };
  std::vector<std::vector<std::string>> bad;
  for (int i = 0; i < 20; ++i) {  // random bytes
    std::string junk(static_cast<std::size_t>(rng() % 100), '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    bad.push_back({junk, junk});
  }
  auto h = header(wire::MsgType::kHeartbeat, 2);
  std::string hs(h.begin(), h.end());
  bad.push_back({hs.substr(0, 20), "{}"});  // truncated header
  std::string wrong_magic = hs;
  wrong_magic[0] ^= 0x55;
  bad.push_back({wrong_magic, "{}"});
  std::string wrong_version = hs;
  wrong_version[4] = 9;
  bad.push_back({wrong_version, "{}"});
  bad.push_back({hs, "{} and more"});  // size does not match the header
  auto h2 = header(wire::MsgType::kKvSet, 3);
  bad.push_back({std::string(h2.begin(), h2.end()), "{x}"});  // body is not JSON
  auto h3 = header(wire::MsgType::kHeartbeat, 2, 77);
  bad.push_back({std::string(h3.begin(), h3.end()), "{}"});  // a rank that never registered
  for (const auto& frames : bad) {
    for (std::size_t i = 0; i < frames.size(); ++i)
      raw.send(zmq::buffer(frames[i]),
               i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  std::this_thread::sleep_for(300ms);
  // The good worker is still served correctly.
  good.kv_set("k", "v");
  EXPECT_EQ(good.kv_get("k", 1000ms), "v");
  EXPECT_EQ(co.c.stats().malformed, bad.size());
  // A well-formed message for the registered rank 0 from a connection that did not register it
  // (knowing the rank and job id, not the token): rejected, its key never set.
  const std::string spoof = R"({"key":"spoofed","value":"x"})";
  auto h4 = header(wire::MsgType::kKvSet, spoof.size());
  raw.send(zmq::buffer(std::string(h4.begin(), h4.end())), zmq::send_flags::sndmore);
  raw.send(zmq::buffer(spoof), zmq::send_flags::none);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(co.c.stats().rejected, 1u);
  EXPECT_THROW(good.kv_get("spoofed", 200ms), TimeoutError);
}

TEST(Coordinator, SilentWorkerIsDeclaredLost) {
  auto cfg = config(1);
  cfg.heartbeat_timeout_s = 0.3;
  Running co(cfg);
  coord::CoordinatorClient w(co.endpoint(), "secret-token-0123456789abcdef012", 2000ms);
  w.register_worker("cpu", "h");
  w.heartbeat();
  std::this_thread::sleep_for(600ms);
  co.t.join();  // the only worker is lost, so the job is over
  co.t = std::thread([] {});
  EXPECT_EQ(co.c.stats().lost, 1u);
}

// An allreduce group re-forming (coordinator_regroup.cpp): the answer names every live worker
// once all of them reported, and a worker that falls silent meanwhile is declared lost and not
// waited for; an answer is final; a restarted worker takes its lost rank back, is announced once
// it reported ready, and the next answer names it. Nothing here depends on speed: answers are
// awaited, never expected by a moment.
TEST(Coordinator, RegroupAnswersOnceEveryLiveWorkerReportedLeavingTheLostOutAndTakingTheRestartedBack) {
  auto cfg = config(3);
  // Long enough that a starved test thread (every message of 0 and 1 counts as a beat) does not
  // lose them too, short enough to wait for worker 2's loss.
  cfg.heartbeat_timeout_s = 4;
  Running co(cfg);
  std::vector<std::unique_ptr<coord::CoordinatorClient>> w;
  for (int r = 0; r < 3; ++r) {
    w.push_back(std::make_unique<coord::CoordinatorClient>(co.endpoint(), "secret-token-0123456789abcdef012",
                                                           5000ms));
    w.back()->register_worker("cpu", "h", r);
  }
  const auto report = [&](int r, int gen, int round) {
    w[r]->kv_set("regroup/" + std::to_string(gen) + "/" + std::to_string(r),
                 nlohmann::json{{"round", round}, {"seen", 100.0 * round}, {"steps", round}}.dump());
  };
  // Everyone alive and reporting: all three, each with its report.
  for (int r = 0; r < 3; ++r) report(r, 1, 10 + r % 2);
  auto answer = nlohmann::json::parse(w[0]->kv_get("regroup/1", 10000ms));
  ASSERT_EQ(answer["members"].size(), 3u) << answer.dump();
  EXPECT_EQ(answer["members"][1]["rank"], 1);
  EXPECT_EQ(answer["members"][1]["round"], 11);
  EXPECT_EQ(answer["members"][2]["seen"], 1000.0);
  // Worker 2 falls silent; 0 and 1 report generation 2 and keep beating until the answer.
  report(0, 2, 12), report(1, 2, 12);
  std::optional<std::string> got;
  for (int i = 0; i < 600 && !got; ++i) {
    w[1]->heartbeat();
    got = w[0]->kv_poll("regroup/2", 100ms, 5000ms);
  }
  ASSERT_TRUE(got.has_value()) << "no answer within a minute";
  answer = nlohmann::json::parse(*got);
  ASSERT_EQ(answer["members"].size(), 2u) << answer.dump();
  EXPECT_EQ(answer["members"][0]["rank"], 0);
  EXPECT_EQ(answer["members"][1]["rank"], 1);
  EXPECT_EQ(co.c.stats().lost, 1u);
  // An answered generation stays answered: a late report does not reopen it.
  const std::string first = w[0]->kv_get("regroup/1", 1000ms);
  report(1, 1, 99);
  EXPECT_EQ(w[0]->kv_get("regroup/1", 1000ms), first);
  // Worker 2 restarted: it takes its lost rank back and is told the next generation, 3. The
  // others hear of it once it reported ready, and the answer then names all three.
  coord::CoordinatorClient again(co.endpoint(), "secret-token-0123456789abcdef012", 5000ms);
  const auto welcome = again.register_worker("cpu", "h", 2);
  ASSERT_TRUE(welcome.rejoin_generation.has_value());
  EXPECT_EQ(*welcome.rejoin_generation, 3);
  EXPECT_EQ(w[0]->heartbeat(), 0);  // still starting: nobody waits for it yet
  again.kv_set("regroup/3/2", R"({"round":-1,"seen":0,"steps":0,"joining":true})");
  EXPECT_EQ(w[0]->heartbeat(), 3);
  report(0, 3, 20), report(1, 3, 20);
  answer = nlohmann::json::parse(again.kv_get("regroup/3", 10000ms));
  ASSERT_EQ(answer["members"].size(), 3u) << answer.dump();
  EXPECT_EQ(answer["members"][2]["rank"], 2);
  EXPECT_EQ(answer["members"][2]["round"], -1);
  EXPECT_EQ(w[1]->heartbeat(), 0);  // admitted
  // A report under another rank's name is refused as malformed.
  const auto before = co.c.stats().malformed;
  w[0]->kv_set("regroup/4/1", R"({"round":1,"seen":1,"steps":1})");
  for (int i = 0; i < 600 && co.c.stats().malformed == before; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_GT(co.c.stats().malformed, before);
}

}  // namespace
