// The shard's event loop: authenticate peers, initialise from rank 0's weights, apply pushes
// through ShardRules, answer pulls and (sync rules) close rounds, drop workers that stall a
// round, and log version and staleness statistics.
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "esync/job_checkpoint.hpp"
#include "esync/jsonl_log.hpp"
#include "esync/message.hpp"
#include "esync/ps_server.hpp"
#include "shard_checkpoint.hpp"

namespace esync::ps {

using nlohmann::json;
using wire::MsgType;

struct ShardServer::Impl {
  struct Waiting {
    std::string identity;
    int rank;
    double since;
    std::int64_t staleness;
    std::uint64_t join_at = 0;  // joins: the version the worker becomes live at
  };
  ShardConfig cfg;
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::router};
  std::string endpoint;
  ShardStats stats;
  // What stats() returns: a copy published by run() after every message, so another thread
  // (a test waiting for the counters) can read it while run() serves.
  mutable std::mutex stats_mu;
  ShardStats published;
  JsonlLog log;
  std::unique_ptr<ShardRules> rules;
  std::size_t total_n = 0;
  std::map<std::string, int> peers;  // authenticated routing id -> rank
  std::vector<Waiting> waiting;      // sync pushes of the open round
  std::vector<Waiting> early_pulls;  // pulls that arrived before the weights
  std::vector<Waiting> joins;        // elastic joins parked until their version
  double samples = 0, round_open = 0, last_msg = 0, last_log = 0;
  bool stop_flag = false;
  std::map<std::int64_t, std::uint64_t> staleness_hist;
  std::map<int, double> heard;  // rank -> when its last message arrived
  std::vector<float> aligned;  // scratch for a frame whose floats are not 4-byte aligned
  std::uint64_t checkpoint_due = 0;  // a round rank 0 asked to checkpoint, once its push is applied
  ckpt::BackgroundWriter writer{"server-" + std::to_string(cfg.shard) + ".ckpt"};

  explicit Impl(ShardConfig c) : cfg(std::move(c)) {
    ESYNC_CHECK_T(ConfigError, !cfg.token.empty(), "a parameter-server shard needs the job token");
    wire::secure_server(sock, cfg.curve);
    endpoint = wire::bind_router(sock, cfg.bind, cfg.port, "parameter-server shard " + std::to_string(cfg.shard),
                                 cfg.max_frame_bytes);
    if (!cfg.log_dir.empty()) log = JsonlLog(cfg.log_dir, "server", cfg.shard);
    log.write("start", {{"role", "server"}, {"shard", cfg.shard}, {"shards", cfg.shards}, {"endpoint", endpoint},
                        {"rule", cfg.rule.rule}, {"workers", cfg.rule.workers}, {"lr", cfg.rule.opt.lr},
                        {"optimizer", cfg.rule.opt.kind}});
    if (!cfg.resume_file.empty()) resume();
    last_msg = mono_s();
  }

  // This shard's state from the checkpoint instead of rank 0's initial weights.
  void resume() {
    auto st = load_shard_checkpoint(cfg);
    rules = std::move(st.rules);
    total_n = st.total_n;
    samples = st.samples;
    log.write("resume", {{"file", cfg.resume_file}, {"version", rules->version()}, {"samples", samples}});
  }

  void write_checkpoint() {
    if (checkpoint_due == 0 || cfg.checkpoint_dir.empty()) return;
    writer.submit(cfg.checkpoint_dir, checkpoint_due, shard_checkpoint(cfg, *rules, {nullptr, total_n, samples}, checkpoint_due));
    log.write("checkpoint", {{"round", checkpoint_due}, {"version", rules->version()}});
    checkpoint_due = 0;
  }

  void reply(const std::string& identity, int rank, MsgType type, json body = json::object()) {
    auto m = wire::make(type, cfg.job_id, static_cast<std::uint32_t>(rank), rules ? rules->version() : 0, std::move(body));
    m.identity = identity;
    wire::send(sock, m);
  }

  // The current weights, zero-copy: the frame holds a reference to the snapshot until ZeroMQ
  // has sent it, and the rules copy-on-write while it does.
  void send_weights(const std::string& identity, int rank, json body) {
    body["version"] = rules->version();
    body["samples"] = samples;
    body["stop"] = stop_flag;
    auto m = wire::make(MsgType::kPullReply, cfg.job_id, static_cast<std::uint32_t>(rank), rules->version(), std::move(body));
    m.identity = identity;
    auto* hold = new Snapshot(rules->weights());
    m.tensors.emplace_back(const_cast<float*>((*hold)->data()), (*hold)->size() * sizeof(float),
                           [](void*, void* h) { delete static_cast<Snapshot*>(h); }, hold);
    stats.bytes_out += (*hold)->size() * sizeof(float);
    wire::send(sock, m);
    rules->pulled(rank);
  }

  const float* floats(const zmq::message_t& frame) {
    if (reinterpret_cast<std::uintptr_t>(frame.data()) % alignof(float) == 0) return frame.data<float>();
    aligned.resize(frame.size() / sizeof(float));
    std::memcpy(aligned.data(), frame.data(), frame.size());
    return aligned.data();
  }

  const zmq::message_t& one_slice(const wire::Message& m, std::size_t want) {
    ESYNC_CHECK_T(ProtocolError, m.tensors.size() == 1, wire::type_name(m.header.type), " with ", m.tensors.size(),
                  " tensor frames (need 1)");
    // Compared in elements (wire::recv guarantees whole floats): want * 4 wraps for a declared
    // init size near 2^62, and a 4-byte slice then passed as 2^62 + 1 elements.
    ESYNC_CHECK_T(ProtocolError, m.tensors[0].size() / sizeof(float) == want, "slice of ", m.tensors[0].size(),
                  " bytes, shard ", cfg.shard, " holds ", want, " floats");
    stats.bytes_in += m.tensors[0].size();
    return m.tensors[0];
  }

  void on_init(const wire::Message& m, int rank) {
    ESYNC_CHECK_T(ProtocolError, rank == 0, "only rank 0 initialises the weights (rank ", rank, " tried)");
    ESYNC_CHECK_T(ProtocolError, !rules, "the weights of shard ", cfg.shard, " are already set");
    total_n = m.body.at("n").get<std::size_t>();
    const auto range = shard_range(total_n, cfg.shards, cfg.shard);
    const auto& frame = one_slice(m, range.size());
    const float* x = floats(frame);
    rules = std::make_unique<ShardRules>(cfg.rule, std::vector<float>(x, x + range.size()));
    log.write("init", {{"n", total_n}, {"lo", range.lo}, {"hi", range.hi}});
    reply(m.identity, rank, MsgType::kAck);
    for (const auto& w : early_pulls) send_weights(w.identity, w.rank, json::object());
    early_pulls.clear();
  }

  void on_push(const wire::Message& m, int rank) {
    ESYNC_CHECK_T(ProtocolError, rules != nullptr, "push before the weights were set");
    const auto& frame = one_slice(m, rules->size());
    const double n_i = m.body.at("samples").get<double>();
    const auto out = rules->push(rank, floats(frame), n_i, m.header.round);
    ++stats.pushes;
    samples += n_i;
    stop_flag = stop_flag || m.body.value("stop", false);
    // Only rank 0 names checkpoint rounds (its file and ours must hold the same model).
    if (const std::uint64_t round = m.body.value("checkpoint", std::uint64_t{0}); round > 0 && rank == 0)
      checkpoint_due = round;
    stats.staleness_sum += double(out.staleness);
    stats.staleness_max = std::max(stats.staleness_max, out.staleness);
    ++staleness_hist[out.staleness];
    const double now = mono_s();
    if (!is_sync_rule(cfg.rule.rule)) {
      send_weights(m.identity, rank, {{"staleness", out.staleness}, {"wait_s", 0.0}, {"lr", out.lr}});
      return write_checkpoint();
    }
    if (rules->pending() == 1 || waiting.empty()) round_open = now;
    waiting.push_back({m.identity, rank, now, out.staleness});
    if (out.applied) close_round();
  }

  void close_round() {
    const double now = mono_s();
    for (const auto& w : waiting) send_weights(w.identity, w.rank, {{"staleness", w.staleness}, {"wait_s", now - w.since}});
    waiting.clear();
    write_checkpoint();
    admit_due();
  }

  // Elastic join. The worker names the version it joins at: one past the highest it saw on any
  // shard, so every shard adds it at the same round boundary (shards close a round at slightly
  // different times, and a worker live in different rounds on different shards would mix
  // versions). A join is parked until this shard reaches that version, then answered with those
  // weights; the worker's first push belongs to that round. A shard already past it (two rounds
  // went by during the worker's round trip) answers "late"; the worker leaves the shards that
  // took it and tries again. The asynchronous rules have no rounds: they add the worker at once.
  void on_join(const wire::Message& m, int rank) {
    ESYNC_CHECK_T(ProtocolError, rules != nullptr, "join before the weights were set");
    const auto at = m.body.at("join").get<std::uint64_t>();
    if (!is_sync_rule(cfg.rule.rule) || at == rules->version()) return admit(m.identity, rank);
    if (at < rules->version())
      return reply(m.identity, rank, MsgType::kPullReply, {{"late", true}, {"version", rules->version()}});
    joins.push_back({m.identity, rank, mono_s(), 0, at});
  }

  void admit(const std::string& identity, int rank) {
    rules->add_worker(rank);
    heard[rank] = mono_s();
    log.write("join", {{"rank", rank}, {"version", rules->version()}, {"live", rules->live_workers()}});
    send_weights(identity, rank, {{"joined", true}});
  }

  void admit_due() {
    for (auto it = joins.begin(); it != joins.end();) {
      if (it->join_at > rules->version()) {
        ++it;
        continue;
      }
      admit(it->identity, it->rank);
      it = joins.erase(it);
    }
  }

  void leave(int rank, const std::string& why) {
    std::erase_if(joins, [&](const Waiting& w) { return w.rank == rank; });
    if (!rules) return;
    if (rules->remove_worker(rank)) close_round();
    log.write("leave", {{"rank", rank}, {"status", why}, {"live", rules->live_workers()}});
  }

  void handle(const wire::Message& m) {
    ++stats.messages;
    last_msg = mono_s();
    if (m.header.type == MsgType::kRegister) {
      const int rank = m.body.value("rank", -1);
      if (!wire::token_equal(m.body.value("token", ""), cfg.token) || rank < 0 || rank >= cfg.rule.workers) {
        ++stats.rejected;
        log.write("reject", {{"reason", rank < 0 || rank >= cfg.rule.workers ? "bad rank" : "wrong token"}, {"rank", rank}});
        return reply(m.identity, 0, MsgType::kReject, {{"error", "wrong job token or rank"}});
      }
      peers[m.identity] = rank;
      return reply(m.identity, rank, MsgType::kAck);
    }
    const auto peer = peers.find(m.identity);
    if (peer == peers.end()) {
      ++stats.rejected;
      log.write("reject", {{"reason", "unregistered peer"}, {"type", wire::type_name(m.header.type)}});
      return reply(m.identity, 0, MsgType::kReject, {{"error", "register with the job token first"}});
    }
    const int rank = peer->second;
    heard[rank] = mono_s();
    try {
      serve(m, rank);
    } catch (const std::exception& e) {
      // An authenticated worker sent something we refuse: tell it why instead of letting it
      // wait for its timeout, then count and log it like any malformed message.
      reply(m.identity, rank, MsgType::kReject, {{"error", e.what()}});
      throw;
    }
  }

  void serve(const wire::Message& m, int rank) {
    ESYNC_CHECK_T(ProtocolError, m.header.rank == static_cast<std::uint32_t>(rank) && m.header.job_id == cfg.job_id,
                  "header says rank ", m.header.rank, " job ", m.header.job_id, ", the connection is rank ", rank);
    switch (m.header.type) {
      case MsgType::kPush:
        return m.body.value("init", false) ? on_init(m, rank) : on_push(m, rank);
      case MsgType::kPull:
        ++stats.pulls;
        if (m.body.contains("join")) return on_join(m, rank);
        if (!rules) return early_pulls.push_back({m.identity, rank, mono_s(), 0});
        return send_weights(m.identity, rank, json::object());
      case MsgType::kShutdown:
        leave(rank, m.body.value("status", "done"));
        return reply(m.identity, rank, MsgType::kAck);
      default:
        ESYNC_THROW(ProtocolError, "unexpected ", wire::type_name(m.header.type), " message at a parameter server");
    }
  }

  // A worker is gone: logged and counted; with --on-failure abort the shard stops here, naming
  // it (its launcher then stops the job), else the caller drops it and the job goes on.
  void lose(int r, double silent_s, const std::string& what) {
    ++stats.lost;
    log.write("lost", {{"rank", r}, {"round", rules->version()}, {"silent_s", silent_s}});
    std::fprintf(stderr, "server-%d: %s worker %d: %s for %.1f s\n", cfg.shard, cfg.abort_on_failure ? "lost" : "dropped", r,
                 what.c_str(), silent_s);
    ESYNC_CHECK_T(PeerLostError, !cfg.abort_on_failure, "parameter-server shard ", cfg.shard, ": lost worker ", r, " (",
                  what, " for ", silent_s, " s) and the job runs with --on-failure abort");
  }

  void housekeeping() {
    const double now = mono_s(), limit = cfg.timeout.count() / 1e3;
    if (rules && !waiting.empty() && now - round_open > limit) {
      // Drop whoever stalls the round; the rest go on (their pushes count, the round closes).
      for (const int r : rules->missing()) {
        lose(r, now - round_open, "no push into round " + std::to_string(rules->version()));
        if (rules->remove_worker(r)) close_round();
      }
      last_msg = now;  // the survivors were just answered: their silence starts now
    }
    // Asynchronous rules wait for nobody, so a dead worker stalls nothing, but it must still
    // leave: async-cached would keep averaging its last gradient forever. Silent for the
    // timeout (no push, no pull) means lost.
    if (rules && !is_sync_rule(cfg.rule.rule))
      for (const auto& [r, t] : heard)
        if (rules->is_live(r) && now - t > limit) {
          lose(r, now - t, "no message");
          rules->remove_worker(r);
        }
    // Silence is a failure only when nobody waits on us (a sync round's waiters are answered
    // above, by dropping whoever stalls it).
    if (now - last_msg > limit && waiting.empty() && (!rules || rules->live_workers() > 0))
      ESYNC_THROW(TimeoutError, "parameter-server shard ", cfg.shard, ": no message from any worker for ", limit, " s");
    if (now - last_log >= cfg.log_every_s) write_stats(now, "ps");
  }

  void publish() {
    std::lock_guard<std::mutex> lk(stats_mu);
    stats.version = rules ? rules->version() : 0;
    published = stats;
  }

  void write_stats(double now, const char* ev) {
    last_log = now;
    if (!rules) return;
    json hist = json::object();
    for (const auto& [tau, count] : staleness_hist) hist[std::to_string(tau)] = count;
    stats.version = rules->version();
    log.write(ev, {{"version", stats.version}, {"pushes", stats.pushes}, {"pulls", stats.pulls},
                   {"live", rules->live_workers()}, {"samples", samples},
                   {"staleness_mean", stats.pushes ? stats.staleness_sum / double(stats.pushes) : 0.0},
                   {"staleness_max", stats.staleness_max}, {"staleness_hist", hist}, {"bytes_in", stats.bytes_in},
                   {"bytes_out", stats.bytes_out}, {"malformed", stats.malformed}, {"rejected", stats.rejected}});
  }
};

ShardServer::ShardServer(ShardConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
ShardServer::~ShardServer() = default;
std::string ShardServer::endpoint() const { return impl_->endpoint; }
ShardStats ShardServer::stats() const {
  std::lock_guard<std::mutex> lk(impl_->stats_mu);
  return impl_->published;
}

void ShardServer::run(const std::atomic<bool>& stop) {
  auto& im = *impl_;
  while (!stop.load() && !(im.rules && im.rules->live_workers() == 0)) {
    try {
      if (auto m = wire::recv(im.sock, std::chrono::milliseconds(50), /*router=*/true)) im.handle(*m);
    } catch (const ProtocolError& e) {
      ++im.stats.malformed;
      im.log.write("malformed", {{"error", e.what()}});
    } catch (const json::exception& e) {
      ++im.stats.malformed;
      im.log.write("malformed", {{"error", std::string("bad body: ") + e.what()}});
    }
    try {
      im.housekeeping();
    } catch (const Error& e) {
      im.log.write("end", {{"status", "error"}, {"error", e.what()}});
      im.publish();
      throw;
    }
    im.publish();
  }
  im.write_stats(mono_s(), "ps");
  im.publish();
  im.writer.finish();
  im.log.write("end", {{"status", "ok"}, {"version", im.stats.version}, {"pushes", im.stats.pushes},
                       {"malformed", im.stats.malformed}, {"rejected", im.stats.rejected}, {"lost", im.stats.lost}});
}

}  // namespace esync::ps
