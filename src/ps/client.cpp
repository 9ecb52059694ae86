#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "esync/message.hpp"
#include "esync/ps_client.hpp"
#include "esync/ps_rules.hpp"

namespace esync::ps {

using nlohmann::json;
using wire::MsgType;

struct PsClient::Impl {
  zmq::context_t ctx{1};
  std::vector<zmq::socket_t> socks;
  std::vector<std::string> endpoints;
  std::vector<ShardRange> ranges;
  std::vector<std::uint64_t> versions;  // per shard: the version of the weights we hold
  std::string token;
  std::uint32_t rank;
  std::uint64_t job_id;
  std::size_t n;
  std::chrono::milliseconds timeout;
  bool curve = false;            // a timeout may then mean a CURVE handshake that failed: say so
  std::uint64_t checkpoint = 0;  // a checkpoint round for the next push to carry

  // A slice of caller memory as a frame, zero-copy (no free function: the caller owns it).
  static zmq::message_t view(const float* p, std::size_t count) {
    return zmq::message_t(const_cast<float*>(p), count * sizeof(float), nullptr, nullptr);
  }

  void send(std::size_t s, MsgType type, std::uint64_t round, json body, const float* slice = nullptr) {
    auto m = wire::make(type, job_id, rank, round, std::move(body));
    // A push always carries its slice, even an empty one (a zero-size model's data() is null).
    if (slice || type == MsgType::kPush) m.tensors.push_back(view(slice, ranges[s].size()));
    wire::send(socks[s], m);
  }

  // Gathers one reply from every shard, calling on_reply(shard, message) as each arrives.
  template <class F>
  void gather(MsgType want, std::chrono::milliseconds wait, F&& on_reply) {
    std::vector<char> done(socks.size(), 0);
    std::size_t left = socks.size();
    const double deadline = mono_s() + wait.count() / 1e3;
    while (left > 0) {
      std::vector<zmq::pollitem_t> items;
      std::vector<std::size_t> which;
      for (std::size_t s = 0; s < socks.size(); ++s)
        if (!done[s]) {
          items.push_back({socks[s].handle(), 0, ZMQ_POLLIN, 0});
          which.push_back(s);
        }
      const double remaining = deadline - mono_s();
      if (remaining <= 0) {
        std::string names;
        for (const auto s : which)
          names += (names.empty() ? "" : ", ") + std::to_string(s) + " (" + endpoints[s] + ")";
        ESYNC_THROW(TimeoutError, "rank ", rank, ": no ", wire::type_name(want),
                    " from parameter-server shard(s) ", names, " within ", wait.count() / 1000.0, " s",
                    wire::curve_timeout_hint(curve));
      }
      try {
        zmq::poll(items.data(), items.size(),
                  std::chrono::milliseconds(static_cast<long>(remaining * 1e3) + 1));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
      }
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (!(items[i].revents & ZMQ_POLLIN)) continue;
        const auto s = which[i];
        auto r = wire::recv(socks[s], std::chrono::milliseconds(0), /*router=*/false);
        if (!r) continue;
        if (r->header.type == MsgType::kReject)
          ESYNC_THROW(PeerLostError, "parameter-server shard ", s, " refused rank ", rank, ": ",
                      r->body.value("error", "?"));
        ESYNC_CHECK_T(ProtocolError, r->header.type == want, "expected ", wire::type_name(want),
                      " from shard ", s, ", got ", wire::type_name(r->header.type));
        on_reply(s, *r);
        done[s] = 1;
        --left;
      }
    }
  }

  // Copies a weight reply into w and folds its statistics into the result.
  void take_weights(std::size_t s, const wire::Message& m, float* w, PsReply& out) {
    ESYNC_CHECK_T(ProtocolError,
                  m.tensors.size() == 1 && m.tensors[0].size() == ranges[s].size() * sizeof(float), "shard ",
                  s, " sent a weight slice of the wrong size");
    std::memcpy(w + ranges[s].lo, m.tensors[0].data(), m.tensors[0].size());
    versions[s] = m.body.at("version").get<std::uint64_t>();
    // The lowest over the shards. The callers start it at the largest value: replies arrive in
    // any order, and starting over at shard 0's reply dropped the shards that answered before it.
    out.version = std::min(out.version, versions[s]);
    out.staleness = std::max<std::int64_t>(out.staleness, m.body.value("staleness", 0));
    out.samples = std::max(out.samples, m.body.value("samples", 0.0));
    out.stop = out.stop || m.body.value("stop", false);
    out.wait_s = std::max(out.wait_s, m.body.value("wait_s", 0.0));
    out.bytes_recv += m.tensors[0].size();
  }
};

PsClient::PsClient(std::vector<std::string> endpoints, std::string token, int rank, std::uint64_t job_id,
                   std::size_t n, std::chrono::milliseconds timeout, const wire::CurveKeys& curve)
    : impl_(std::make_unique<Impl>()) {
  auto& im = *impl_;
  ESYNC_CHECK_T(ConfigError, !endpoints.empty(), "the parameter server has no shards");
  im.endpoints = std::move(endpoints);
  im.token = std::move(token);
  im.rank = static_cast<std::uint32_t>(rank);
  im.job_id = job_id;
  im.n = n;
  im.timeout = timeout;
  im.curve = curve.on();
  const int shards = static_cast<int>(im.endpoints.size());
  for (int s = 0; s < shards; ++s) {
    im.ranges.push_back(shard_range(n, shards, s));
    im.socks.emplace_back(im.ctx, zmq::socket_type::dealer);
    im.socks.back().set(zmq::sockopt::linger, 0);
    wire::secure_client(im.socks.back(), curve);
    try {
      im.socks.back().connect(im.endpoints[static_cast<std::size_t>(s)]);
    } catch (const zmq::error_t& e) {
      ESYNC_THROW(ConfigError, "bad parameter-server address '", im.endpoints[static_cast<std::size_t>(s)],
                  "': ", e.what());
    }
  }
  im.versions.assign(im.socks.size(), 0);
  for (std::size_t s = 0; s < im.socks.size(); ++s)
    im.send(s, MsgType::kRegister, 0, {{"token", im.token}, {"rank", rank}});
  im.gather(MsgType::kAck, im.timeout, [](std::size_t, const wire::Message&) {});
}

PsClient::~PsClient() = default;
int PsClient::shards() const { return static_cast<int>(impl_->socks.size()); }

void PsClient::init(const float* w) {
  auto& im = *impl_;
  for (std::size_t s = 0; s < im.socks.size(); ++s)
    im.send(s, MsgType::kPush, 0, {{"init", true}, {"n", im.n}}, w + im.ranges[s].lo);
  im.gather(MsgType::kAck, im.timeout, [](std::size_t, const wire::Message&) {});
}

PsReply PsClient::pull(float* w) {
  auto& im = *impl_;
  for (std::size_t s = 0; s < im.socks.size(); ++s) im.send(s, MsgType::kPull, 0, json::object());
  PsReply out;
  out.version = std::numeric_limits<std::uint64_t>::max();  // every shard answers or gather throws
  im.gather(MsgType::kPullReply, im.timeout,
            [&](std::size_t s, const wire::Message& m) { im.take_weights(s, m, w, out); });
  return out;
}

PsReply PsClient::join(float* w) {
  auto& im = *impl_;
  constexpr int kTries = 5;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    pull(w);
    // One past the highest version any shard holds: no shard can be past it yet unless two
    // rounds go by before our request arrives (then it answers "late" and we try again).
    const std::uint64_t at = *std::max_element(im.versions.begin(), im.versions.end()) + 1;
    for (std::size_t s = 0; s < im.socks.size(); ++s) im.send(s, MsgType::kPull, 0, {{"join", at}});
    PsReply out;
    out.version = std::numeric_limits<std::uint64_t>::max();
    bool late = false;
    // Parked until the shard reaches `at`: up to one round, which a sync round bounds by the timeout.
    im.gather(MsgType::kPullReply, im.timeout * 2, [&](std::size_t s, const wire::Message& m) {
      if (m.body.value("late", false))
        late = true;
      else
        im.take_weights(s, m, w, out);
    });
    if (!late) return out;
    leave("rejoin");  // the shards that took us drop us again; the others never did
  }
  ESYNC_THROW(TimeoutError, "rank ", im.rank, ": could not join the parameter server in ", kTries,
              " tries (its shards kept moving past the version asked for)");
}

PsReply PsClient::push_pull(float* w, const float* x, double samples, bool stop, double weight) {
  auto& im = *impl_;
  PsReply out;
  out.version = std::numeric_limits<std::uint64_t>::max();  // every shard answers or gather throws
  json body = {{"samples", samples}, {"stop", stop}};
  if (weight >= 0) body["weight"] = weight;  // model averaging's a_i; the samples otherwise
  if (im.checkpoint > 0) body["checkpoint"] = std::exchange(im.checkpoint, 0);
  for (std::size_t s = 0; s < im.socks.size(); ++s) {
    im.send(s, MsgType::kPush, im.versions[s], body, x + im.ranges[s].lo);
    out.bytes_sent += im.ranges[s].size() * sizeof(float);
  }
  // A sync round may hold the reply until the slowest worker pushes: allow the shard its own
  // timeout for that and a margin to answer.
  im.gather(MsgType::kPullReply, im.timeout * 2,
            [&](std::size_t s, const wire::Message& m) { im.take_weights(s, m, w, out); });
  return out;
}

void PsClient::request_checkpoint(std::uint64_t round) { impl_->checkpoint = round; }

void PsClient::leave(const std::string& status) {
  auto& im = *impl_;
  for (std::size_t s = 0; s < im.socks.size(); ++s) im.send(s, MsgType::kShutdown, 0, {{"status", status}});
  try {
    im.gather(MsgType::kAck, std::chrono::milliseconds(2000), [](std::size_t, const wire::Message&) {});
  } catch (const Error&) {
  }
}

}  // namespace esync::ps
