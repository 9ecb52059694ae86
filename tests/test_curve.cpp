// CURVE (esync run --curve) over real ZeroMQ on 127.0.0.1: the coordinator and a PS shard as
// CURVE servers with a job keypair, their clients with the job's public key. A client with a
// wrong key, or none, fails the handshake, which ZeroMQ reports to nobody: the client's own
// timeout must fire (naming CURVE when it is on), and the server must go on serving good
// clients as if nothing had happened. Keys go through the structs, not the environment, except
// in the one test of curve_keys_from_env. Failing clients wait 0.6 s, so the file takes seconds.
#include <cstdlib>

#include "esync/coord_client.hpp"
#include "esync/coordinator.hpp"
#include "esync/curve.hpp"
#include "ps_test_util.hpp"

using namespace esync;
using namespace esync::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kGood = 1500ms;  // a client that should be answered
constexpr auto kBad = 600ms;    // a client whose handshake fails: only its timeout ends the wait
constexpr const char* kCoordToken = "secret-token-0123456789abcdef012";

wire::CurveKeys job_keys() {
  const auto k = wire::generate_curve_keypair();
  return {k.public_key, k.secret_key};
}
// What a worker holds: the public key only.
wire::CurveKeys public_only(const wire::CurveKeys& k) { return {k.server_public, ""}; }

struct RunningCoordinator {
  explicit RunningCoordinator(const wire::CurveKeys& keys, int workers = 1)
      : c(config(keys, workers)), t([this] { c.run(stop); }) {}
  ~RunningCoordinator() {
    stop = true;
    t.join();
  }
  static coord::CoordinatorConfig config(const wire::CurveKeys& keys, int workers) {
    coord::CoordinatorConfig cfg;
    cfg.workers = workers;
    cfg.token = kCoordToken;
    cfg.status = false;
    cfg.curve = keys;
    return cfg;
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(c.port()); }
  coord::Coordinator c;
  std::atomic<bool> stop{false};
  std::thread t;
};

// Runs f, which must throw TimeoutError within `limit`; returns its message.
template <class F>
std::string times_out(F&& f, std::chrono::milliseconds limit) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string what;
  try {
    f();
    ADD_FAILURE() << "no TimeoutError";
  } catch (const TimeoutError& e) {
    what = e.what();
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, limit) << "the timeout took too long";
  return what;
}

// A good client of a CURVE coordinator: registers and uses the key-value store.
void good_worker(const RunningCoordinator& co, const wire::CurveKeys& keys) {
  coord::CoordinatorClient good(co.endpoint(), kCoordToken, kGood, public_only(keys));
  EXPECT_EQ(good.register_worker("cpu", "h").rank, 0);
  good.kv_set("nccl/id", "00ff");
  EXPECT_EQ(good.kv_get("nccl/id", 500ms), "00ff");
  good.goodbye("ok");
}

TEST(Curve, KeysAreCheckedAndNeverEchoed) {
  const auto a = wire::generate_curve_keypair(), b = wire::generate_curve_keypair();
  EXPECT_EQ(a.public_key.size(), 40u);
  EXPECT_EQ(a.secret_key.size(), 40u);
  EXPECT_NE(a.public_key, b.public_key);
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::router);
  // A secret of another job, or none at all, stops a server at start-up, not at every client.
  EXPECT_THROW(wire::secure_server(s, {a.public_key, b.secret_key}), ConfigError);
  EXPECT_THROW(wire::secure_server(s, {a.public_key, ""}), ConfigError);
  EXPECT_NO_THROW(wire::secure_server(s, {a.public_key, a.secret_key}));
  EXPECT_NO_THROW(wire::secure_server(s, {}));  // off: nothing to do
  // What esync run hands its processes: the secret to servers only; off blanks both variables.
  const auto server_env = wire::curve_env(a, true, {{"ESYNC_TOKEN", "t"}}),
             client_env = wire::curve_env(a, false);
  EXPECT_EQ(server_env, (wire::EnvVars{{"ESYNC_TOKEN", "t"},
                                       {"ESYNC_CURVE_SERVER", a.public_key},
                                       {"ESYNC_CURVE_SECRET", a.secret_key}}));
  EXPECT_EQ(client_env, (wire::EnvVars{{"ESYNC_CURVE_SERVER", a.public_key}, {"ESYNC_CURVE_SECRET", ""}}));
  EXPECT_EQ(wire::curve_env({}, true),
            (wire::EnvVars{{"ESYNC_CURVE_SERVER", ""}, {"ESYNC_CURVE_SECRET", ""}}));

  // The environment: unset is off; a bad key is refused without being repeated in the message.
  ::unsetenv("ESYNC_CURVE_SERVER");
  ::unsetenv("ESYNC_CURVE_SECRET");
  EXPECT_FALSE(wire::curve_keys_from_env().on());
  ::setenv("ESYNC_CURVE_SERVER", "", 1);  // blank, as esync run without --curve sets it
  EXPECT_FALSE(wire::curve_keys_from_env().on());
  ::setenv("ESYNC_CURVE_SECRET", a.secret_key.c_str(), 1);
  EXPECT_THROW(wire::curve_keys_from_env(), ConfigError);           // a secret without its public key
  ::setenv("ESYNC_CURVE_SERVER", std::string(40, '~').c_str(), 1);  // '~' is not a z85 character
  try {
    wire::curve_keys_from_env();
    ADD_FAILURE() << "a malformed key was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find(a.secret_key), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("ESYNC_CURVE_SERVER"), std::string::npos) << e.what();
  }
  ::setenv("ESYNC_CURVE_SERVER", a.public_key.c_str(), 1);
  const auto k = wire::curve_keys_from_env();
  EXPECT_TRUE(k.on());
  EXPECT_EQ(k.server_secret, a.secret_key);
  ::unsetenv("ESYNC_CURVE_SERVER");
  ::unsetenv("ESYNC_CURVE_SECRET");
}

TEST(Curve, CoordinatorServesAClientWithTheJobKey) {
  const auto keys = job_keys();
  RunningCoordinator co(keys);
  good_worker(co, keys);
  co.t.join();  // run() returns by itself once the worker said goodbye
  co.t = std::thread([] {});
  EXPECT_EQ(co.c.stats().registered, 1u);
  EXPECT_EQ(co.c.stats().malformed, 0u);
}

TEST(Curve, WrongServerKeyTimesOutNamingCurveAndTheCoordinatorCarriesOn) {
  const auto keys = job_keys(), other = job_keys();
  RunningCoordinator co(keys);
  coord::CoordinatorClient bad(co.endpoint(), kCoordToken, kBad, public_only(other));
  const auto what = times_out([&] { bad.register_worker("cpu", "h"); }, kBad + 900ms);
  EXPECT_NE(what.find("CURVE is on: is ESYNC_CURVE_SERVER the job's key?"), std::string::npos) << what;
  EXPECT_EQ(co.c.stats().messages, 0u) << "a message crossed a failed handshake";
  EXPECT_EQ(co.c.stats().registered, 0u);
  good_worker(co, keys);
  EXPECT_EQ(co.c.stats().registered, 1u);
}

TEST(Curve, PlainClientOfACurveCoordinatorTimesOutAndTheCoordinatorCarriesOn) {
  const auto keys = job_keys();
  RunningCoordinator co(keys);
  coord::CoordinatorClient plain(co.endpoint(), kCoordToken, kBad, wire::CurveKeys{});
  const auto what = times_out([&] { plain.register_worker("cpu", "h"); }, kBad + 900ms);
  EXPECT_EQ(what.find("CURVE"), std::string::npos) << "a plain client does not know about CURVE: " << what;
  EXPECT_EQ(co.c.stats().messages, 0u);
  good_worker(co, keys);
  EXPECT_EQ(co.c.stats().registered, 1u);
}

TEST(Curve, CurveClientOfAPlainCoordinatorTimesOutNamingCurve) {
  RunningCoordinator co(wire::CurveKeys{});
  coord::CoordinatorClient c(co.endpoint(), kCoordToken, kBad, public_only(job_keys()));
  const auto what = times_out([&] { c.register_worker("cpu", "h"); }, kBad + 900ms);
  EXPECT_NE(what.find("CURVE is on"), std::string::npos) << what;
  EXPECT_EQ(co.c.stats().messages, 0u);
}

// Two CURVE shards (so every socket of the client is secured), sync-grad, one worker.
std::vector<std::unique_ptr<Shard>> curve_shards(const wire::CurveKeys& keys,
                                                 std::vector<std::string>& endpoints) {
  std::vector<std::unique_ptr<Shard>> shards;
  for (int s = 0; s < 2; ++s) {
    auto cfg = shard_cfg(s, 2, "sync-grad", 1, 5s);
    cfg.curve = keys;
    shards.push_back(std::make_unique<Shard>(cfg));
    endpoints.push_back(shards.back()->server.endpoint());
  }
  return shards;
}

// init, pull, one push: w = init - g (sgd, lr 1, one worker), exactly.
void good_ps_worker(const std::vector<std::string>& endpoints, const wire::CurveKeys& keys) {
  const std::size_t n = 37;
  PsClient client(endpoints, kToken, 0, 1, n, kGood, public_only(keys));
  std::vector<float> w(n), g(n);
  for (std::size_t i = 0; i < n; ++i) {
    w[i] = init_value(i);
    g[i] = grad_value(0, i);
  }
  client.init(w.data());
  std::vector<float> pulled(n);
  EXPECT_EQ(client.pull(pulled.data()).version, 0u);
  EXPECT_EQ(pulled, w);
  const auto r = client.push_pull(w.data(), g.data(), 1.0, false);
  EXPECT_EQ(r.version, 1u);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(w[i], init_value(i) - grad_value(0, i)) << "element " << i;
  client.leave("done");
}

TEST(Curve, PsShardsServePushAndPullOverCurve) {
  const auto keys = job_keys();
  std::vector<std::string> endpoints;
  auto shards = curve_shards(keys, endpoints);
  good_ps_worker(endpoints, keys);
  for (std::size_t s = 0; s < shards.size(); ++s) {
    EXPECT_TRUE(shards[s]->finish(3s)) << "shard " << s << " did not end when its worker left";
    EXPECT_EQ(shards[s]->error_text(), "");
    EXPECT_EQ(shards[s]->server.stats().pushes, 1u);
  }
}

TEST(Curve, PsClientWithAWrongKeyOrNoneTimesOutAndTheShardsCarryOn) {
  const auto keys = job_keys();
  std::vector<std::string> endpoints;
  auto shards = curve_shards(keys, endpoints);
  auto what = times_out([&] { PsClient bad(endpoints, kToken, 0, 1, 37, kBad, public_only(job_keys())); },
                        kBad + 900ms);
  EXPECT_NE(what.find("CURVE is on: is ESYNC_CURVE_SERVER the job's key?"), std::string::npos) << what;
  EXPECT_NE(what.find("shard(s) 0"), std::string::npos)
      << "the shards that did not answer are named: " << what;
  what =
      times_out([&] { PsClient plain(endpoints, kToken, 0, 1, 37, kBad, wire::CurveKeys{}); }, kBad + 900ms);
  EXPECT_EQ(what.find("CURVE"), std::string::npos) << what;
  for (const auto& s : shards) {
    EXPECT_EQ(s->server.stats().messages, 0u) << "a message crossed a failed handshake";
    EXPECT_FALSE(s->done) << "a failed handshake ended a shard: " << s->error_text();
  }
  good_ps_worker(endpoints, keys);
  for (std::size_t s = 0; s < shards.size(); ++s) {
    EXPECT_TRUE(shards[s]->finish(3s)) << "shard " << s;
    EXPECT_EQ(shards[s]->error_text(), "");
    EXPECT_EQ(shards[s]->server.stats().rejected, 0u);
    EXPECT_EQ(shards[s]->server.stats().malformed, 0u);
  }
}

}  // namespace
