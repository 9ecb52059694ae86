#include <unistd.h>

#include <atomic>
#include <cmath>
#include <optional>

#include "esync/assignment.hpp"
#include "esync/coord_client.hpp"
#include "esync/error.hpp"
#include "esync/message.hpp"

namespace esync::coord {

using nlohmann::json;
using wire::MsgType;

struct CoordinatorClient::Impl {
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::dealer};
  std::string endpoint, token;
  std::chrono::milliseconds timeout;
  bool curve = false;  // a timeout may then mean a CURVE handshake that failed: say so
  std::uint32_t rank = 0;
  std::uint64_t job_id = 1;

  // A report sent ahead (report_ahead) whose reply has not been read: its round, or none.
  std::optional<std::uint64_t> ahead;
  std::int64_t polls = 0;                // kv_poll request ids
  std::atomic<std::int64_t> joining{0};  // the last round plan's news of a rejoining worker

  // One request, one reply of the expected type; anything else is a protocol error. A reply
  // still owed to a report sent ahead is read first and dropped (its round never ran).
  wire::Message call(MsgType type, std::uint64_t round, json body, MsgType want,
                     std::chrono::milliseconds wait) {
    send(type, round, std::move(body), wait);
    return receive(want, wait);
  }

  // The request alone (report_ahead reads its reply later), after any reply still owed.
  void send(MsgType type, std::uint64_t round, json body, std::chrono::milliseconds wait) {
    drain(wait);
    auto m = wire::make(type, job_id, rank, round, std::move(body));
    wire::send(sock, m);
  }

  void drain(std::chrono::milliseconds wait) {
    if (!ahead) return;
    ahead.reset();
    receive(MsgType::kAssign, wait);
  }

  wire::Message receive(MsgType want, std::chrono::milliseconds wait) {
    auto r = wire::recv(sock, wait, /*router=*/false);
    ESYNC_CHECK_T(TimeoutError, r.has_value(), "no reply from the coordinator at ", endpoint, " within ",
                  wait.count() / 1000.0, " s waiting for ", wire::type_name(want),
                  wire::curve_timeout_hint(curve));
    if (r->header.type == MsgType::kReject)
      ESYNC_THROW(ConfigError, "the coordinator at ", endpoint,
                  " rejected us: ", r->body.value("error", "?"));
    ESYNC_CHECK_T(ProtocolError, r->header.type == want, "expected ", wire::type_name(want),
                  " from the coordinator, got ", wire::type_name(r->header.type));
    return std::move(*r);
  }
};

CoordinatorClient::CoordinatorClient(const std::string& endpoint, std::string token,
                                     std::chrono::milliseconds timeout, const wire::CurveKeys& curve)
    : impl_(std::make_unique<Impl>()) {
  impl_->endpoint = endpoint.rfind("tcp://", 0) == 0 ? endpoint : "tcp://" + endpoint;
  impl_->token = std::move(token);
  impl_->timeout = timeout;
  impl_->sock.set(zmq::sockopt::linger, 0);
  wire::secure_client(impl_->sock, curve);
  impl_->curve = curve.on();
  try {
    impl_->sock.connect(impl_->endpoint);
  } catch (const zmq::error_t& e) {
    ESYNC_THROW(ConfigError, "bad coordinator address '", endpoint, "': ", e.what());
  }
}

CoordinatorClient::~CoordinatorClient() = default;
const std::string& CoordinatorClient::endpoint() const { return impl_->endpoint; }

Welcome CoordinatorClient::register_worker(const std::string& device, const std::string& host, int rank) {
  auto r = impl_->call(MsgType::kRegister, 0,
                       {{"token", impl_->token}, {"device", device}, {"host", host}, {"rank", rank}},
                       MsgType::kWelcome, impl_->timeout);
  Welcome w;
  w.rank = r.body.at("rank").get<int>();
  w.world = r.body.at("world").get<int>();
  w.policy = r.body.value("policy", kDefaultPolicy);
  w.job = r.body.value("job", json::object());
  if (r.body.contains("rejoin")) w.rejoin_generation = r.body["rejoin"].at("generation").get<int>();
  impl_->rank = static_cast<std::uint32_t>(w.rank);
  impl_->job_id = r.header.job_id;
  return w;
}

Welcome CoordinatorClient::register_server(int shard, const std::string& host) {
  auto r = impl_->call(MsgType::kRegister, 0,
                       {{"token", impl_->token}, {"role", "server"}, {"shard", shard}, {"host", host}},
                       MsgType::kWelcome, impl_->timeout);
  Welcome w;
  w.rank = shard;
  w.world = r.body.at("world").get<int>();
  w.policy = r.body.value("policy", kDefaultPolicy);
  w.job = r.body.value("job", json::object());
  impl_->rank = static_cast<std::uint32_t>(shard);
  impl_->job_id = r.header.job_id;
  return w;
}

void CoordinatorClient::kv_set(const std::string& key, const std::string& value) {
  impl_->call(MsgType::kKvSet, 0, {{"key", key}, {"value", value}}, MsgType::kAck, impl_->timeout);
}

std::string CoordinatorClient::kv_get(const std::string& key, std::chrono::milliseconds wait,
                                      std::chrono::milliseconds slack) {
  // The coordinator answers when the key appears or when `wait` has passed; allow it a little
  // longer than that (slack, default the client's timeout) before calling it silent.
  auto r = impl_->call(MsgType::kKvGet, 0, {{"key", key}, {"wait_ms", wait.count()}}, MsgType::kKvValue,
                       wait + (slack.count() >= 0 ? slack : impl_->timeout));
  ESYNC_CHECK_T(TimeoutError, !r.body.value("missing", false), "key '", key,
                "' did not appear at the coordinator within ", wait.count() / 1000.0,
                " s (a peer that never arrived?)");
  return r.body.at("value").get<std::string>();
}

std::optional<std::string> CoordinatorClient::kv_poll(const std::string& key, std::chrono::milliseconds wait,
                                                      std::chrono::milliseconds slack) {
  using Clock = std::chrono::steady_clock;
  // Each poll carries an id the coordinator echoes: the late answer to an earlier poll, of this
  // key or another, is skipped, never taken for this one's.
  const std::int64_t id = ++impl_->polls;
  impl_->send(MsgType::kKvGet, 0, {{"key", key}, {"wait_ms", wait.count()}, {"id", id}}, impl_->timeout);
  const auto deadline = Clock::now() + wait + slack;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto r = impl_->receive(MsgType::kKvValue, std::max(left, std::chrono::milliseconds(1)));
    if (r.body.value("id", std::int64_t{-1}) != id) continue;
    if (r.body.value("missing", false)) return std::nullopt;
    return r.body.at("value").get<std::string>();
  }
}

void CoordinatorClient::report_ahead(std::uint64_t round, int k_done, double step_s) {
  impl_->send(MsgType::kReport, round, {{"k_done", k_done}, {"step_s", step_s}}, impl_->timeout);
  impl_->ahead = round;
}

CoordinatorClient::RoundPlan CoordinatorClient::report_plan(std::uint64_t round, int k_done, double step_s) {
  const bool sent = impl_->ahead == round;
  if (sent) impl_->ahead.reset();
  auto r = sent ? impl_->receive(MsgType::kAssign, impl_->timeout)
                : impl_->call(MsgType::kReport, round, {{"k_done", k_done}, {"step_s", step_s}},
                              MsgType::kAssign, impl_->timeout);
  RoundPlan p;
  p.k = r.body.at("k").get<int>();
  p.deadline_s = r.body.value("deadline_s", 0.0);
  p.share = r.body.value("share", 1.0);
  p.joining = r.body.value("joining", std::int64_t{0});
  impl_->joining = p.joining;
  ESYNC_CHECK_T(ProtocolError,
                p.k >= 1 && std::isfinite(p.deadline_s) && p.deadline_s >= 0 && p.share > 0 && p.share <= 1,
                "the coordinator sent an impossible round plan: ", r.body.dump());
  return p;
}

void CoordinatorClient::poll_start(std::uint64_t round) {
  impl_->call(MsgType::kPoll, round, {{"phase", "start"}}, MsgType::kPollAnswer, impl_->timeout);
}

bool CoordinatorClient::poll_ready(std::uint64_t round, double step_s) {
  auto r = impl_->call(MsgType::kPoll, round, {{"phase", "step"}, {"step_s", step_s}}, MsgType::kPollAnswer,
                       impl_->timeout);
  return r.body.at("ready").get<bool>();
}

void CoordinatorClient::attach(int rank, std::uint64_t job_id) {
  impl_->rank = static_cast<std::uint32_t>(rank);
  impl_->job_id = job_id;
  // A second connection of a registered worker (its heartbeat): it shows the token too, and the
  // coordinator binds this connection to the rank; other connections cannot speak for it.
  impl_->call(MsgType::kRegister, 0, {{"token", impl_->token}, {"role", "attach"}, {"rank", rank}},
              MsgType::kAck, impl_->timeout);
}

std::uint64_t CoordinatorClient::job_id() const { return impl_->job_id; }

std::int64_t CoordinatorClient::heartbeat(const json& status) {
  const auto r = impl_->call(MsgType::kHeartbeat, 0, {{"status", status}}, MsgType::kAck, impl_->timeout);
  return r.body.is_object() ? r.body.value("joining", std::int64_t{0}) : 0;
}

std::int64_t CoordinatorClient::joining_seen() const { return impl_->joining.load(); }

void CoordinatorClient::goodbye(const std::string& status) {
  impl_->call(MsgType::kShutdown, 0, {{"status", status}}, MsgType::kAck, impl_->timeout);
}

}  // namespace esync::coord
