// The shard's event loop: authenticate peers, initialise from rank 0's weights, apply pushes
// through ShardRules, answer pulls and (sync rules) close rounds, drop workers that stall a
// round, and log version and staleness statistics.
#include <cstdio>
#include <cstring>

#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "server_impl.hpp"
#include "shard_checkpoint.hpp"

namespace esync::ps {

ShardServer::Impl::Impl(ShardConfig c) : cfg(std::move(c)) {
  ESYNC_CHECK_T(ConfigError, !cfg.token.empty(), "a parameter-server shard needs the job token");
  wire::secure_server(sock, cfg.curve);
  endpoint = wire::bind_router(sock, cfg.bind, cfg.port,
                               "parameter-server shard " + std::to_string(cfg.shard), cfg.max_frame_bytes);
  if (!cfg.log_dir.empty()) log = JsonlLog(cfg.log_dir, "server", cfg.shard);
  log.write(logev::ServerStart{"server", cfg.shard, cfg.shards, cfg.rule.workers, endpoint, cfg.rule.rule,
                               cfg.rule.opt.kind, cfg.rule.opt.lr});
  if (!cfg.resume_file.empty()) resume();
  last_msg = mono_s();
}

void ShardServer::Impl::resume() {
  auto st = load_shard_checkpoint(cfg);
  rules = std::move(st.rules);
  total_n = st.total_n;
  rules->restore_samples(st.samples);
  log.write(
      logev::ServerResume{cfg.resume_file, static_cast<std::int64_t>(rules->version()), rules->samples()});
}

void ShardServer::Impl::write_checkpoint() {
  if (checkpoint_due == 0 || cfg.checkpoint_dir.empty()) return;
  writer.submit(cfg.checkpoint_dir, checkpoint_due,
                shard_checkpoint(cfg, *rules, {nullptr, total_n, rules->samples()}, checkpoint_due));
  log.write(logev::ServerCheckpoint{static_cast<std::int64_t>(checkpoint_due),
                                    static_cast<std::int64_t>(rules->version())});
  checkpoint_due = 0;
}

void ShardServer::Impl::reply(const std::string& identity, int rank, MsgType type, json body) {
  auto m = wire::make(type, cfg.job_id, static_cast<std::uint32_t>(rank), rules ? rules->version() : 0,
                      std::move(body));
  m.identity = identity;
  wire::send(sock, m);
}

void ShardServer::Impl::send_weights(const std::string& identity, int rank, json body) {
  body["version"] = rules->version();
  body["samples"] = rules->samples();
  body["stop"] = stop_flag;
  auto m = wire::make(MsgType::kPullReply, cfg.job_id, static_cast<std::uint32_t>(rank), rules->version(),
                      std::move(body));
  m.identity = identity;
  auto* hold = new Snapshot(rules->weights());
  m.tensors.emplace_back(
      const_cast<float*>((*hold)->data()), (*hold)->size() * sizeof(float),
      [](void*, void* h) { delete static_cast<Snapshot*>(h); }, hold);
  stats.bytes_out += (*hold)->size() * sizeof(float);
  wire::send(sock, m);
  rules->pulled(rank);
}

const float* ShardServer::Impl::floats(const zmq::message_t& frame) {
  if (reinterpret_cast<std::uintptr_t>(frame.data()) % alignof(float) == 0) return frame.data<float>();
  aligned.resize(frame.size() / sizeof(float));
  std::memcpy(aligned.data(), frame.data(), frame.size());
  return aligned.data();
}

const zmq::message_t& ShardServer::Impl::one_slice(const wire::Message& m, std::size_t want) {
  ESYNC_CHECK_T(ProtocolError, m.tensors.size() == 1, wire::type_name(m.header.type), " with ",
                m.tensors.size(), " tensor frames (need 1)");
  // Compared in elements (wire::recv guarantees whole floats): want * 4 wraps for a declared
  // init size near 2^62, and a 4-byte slice then passed as 2^62 + 1 elements.
  ESYNC_CHECK_T(ProtocolError, m.tensors[0].size() / sizeof(float) == want, "slice of ", m.tensors[0].size(),
                " bytes, shard ", cfg.shard, " holds ", want, " floats");
  stats.bytes_in += m.tensors[0].size();
  return m.tensors[0];
}

void ShardServer::Impl::on_init(const wire::Message& m, int rank) {
  ESYNC_CHECK_T(ProtocolError, rank == 0, "only rank 0 initialises the weights (rank ", rank, " tried)");
  ESYNC_CHECK_T(ProtocolError, !rules, "the weights of shard ", cfg.shard, " are already set");
  total_n = m.body.at("n").get<std::size_t>();
  const auto range = shard_range(total_n, cfg.shards, cfg.shard);
  const auto& frame = one_slice(m, range.size());
  const float* x = floats(frame);
  rules = std::make_unique<ShardRules>(cfg.rule, std::vector<float>(x, x + range.size()));
  log.write(logev::ServerInit{static_cast<std::int64_t>(total_n), static_cast<std::int64_t>(range.lo),
                              static_cast<std::int64_t>(range.hi)});
  reply(m.identity, rank, MsgType::kAck);
  for (const auto& w : early_pulls) send_weights(w.identity, w.rank, json::object());
  early_pulls.clear();
}

void ShardServer::Impl::on_push(const wire::Message& m, int rank) {
  ESYNC_CHECK_T(ProtocolError, rules != nullptr, "push before the weights were set");
  const auto& frame = one_slice(m, rules->size());
  const double n_i = m.body.at("samples").get<double>();
  const auto out = rules->push(rank, floats(frame), n_i, m.header.round, m.body.value("weight", n_i));
  ++stats.pushes;
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

void ShardServer::Impl::close_round() {
  const double now = mono_s();
  for (const auto& w : waiting)
    send_weights(w.identity, w.rank, {{"staleness", w.staleness}, {"wait_s", now - w.since}});
  waiting.clear();
  write_checkpoint();
  admit_due();
}

void ShardServer::Impl::handle(const wire::Message& m) {
  ++stats.messages;
  last_msg = mono_s();
  if (m.header.type == MsgType::kRegister) {
    const int rank = m.body.value("rank", -1);
    if (!wire::token_equal(m.body.value("token", ""), cfg.token) || rank < 0 || rank >= cfg.rule.workers) {
      ++stats.rejected;
      log.write(
          logev::Reject{rank < 0 || rank >= cfg.rule.workers ? "bad rank" : "wrong token", rank, {}, {}});
      return reply(m.identity, 0, MsgType::kReject, {{"error", "wrong job token or rank"}});
    }
    peers[m.identity] = rank;
    return reply(m.identity, rank, MsgType::kAck);
  }
  const auto peer = peers.find(m.identity);
  if (peer == peers.end()) {
    ++stats.rejected;
    log.write(logev::Reject{"unregistered peer", {}, {}, wire::type_name(m.header.type)});
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

void ShardServer::Impl::serve(const wire::Message& m, int rank) {
  ESYNC_CHECK_T(
      ProtocolError, m.header.rank == static_cast<std::uint32_t>(rank) && m.header.job_id == cfg.job_id,
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
      ESYNC_THROW(ProtocolError, "unexpected ", wire::type_name(m.header.type),
                  " message at a parameter server");
  }
}

void ShardServer::Impl::publish() {
  std::lock_guard<std::mutex> lk(stats_mu);
  stats.version = rules ? rules->version() : 0;
  published = stats;
}

void ShardServer::Impl::write_stats(double now) {
  last_log = now;
  if (!rules) return;
  stats.version = rules->version();
  const auto i64 = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  logev::PsStats ev;
  for (const auto& [tau, count] : staleness_hist) ev.staleness_hist[std::to_string(tau)] = count;
  ev.version = i64(stats.version), ev.pushes = i64(stats.pushes), ev.pulls = i64(stats.pulls);
  ev.live = rules->live_workers(), ev.samples = rules->samples();
  ev.staleness_mean = stats.pushes ? stats.staleness_sum / double(stats.pushes) : 0.0;
  ev.staleness_max = stats.staleness_max;
  ev.bytes_in = i64(stats.bytes_in), ev.bytes_out = i64(stats.bytes_out);
  ev.malformed = i64(stats.malformed), ev.rejected = i64(stats.rejected);
  log.write(ev);
}

ShardServer::ShardServer(ShardConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
ShardServer::~ShardServer() = default;
std::string ShardServer::endpoint() const { return impl_->endpoint; }
ShardStats ShardServer::stats() const {
  std::lock_guard<std::mutex> lk(impl_->stats_mu);
  return impl_->published;
}

void ShardServer::worker_lost(int rank) {
  std::lock_guard<std::mutex> lk(impl_->lost_mu);
  impl_->lost_by_coordinator.push_back(rank);
}

void ShardServer::run(const std::atomic<bool>& stop) {
  auto& im = *impl_;
  while (!stop.load() && !(im.rules && im.rules->live_workers() == 0)) {
    try {
      if (auto m = wire::recv(im.sock, std::chrono::milliseconds(50), /*router=*/true)) im.handle(*m);
    } catch (const ProtocolError& e) {
      ++im.stats.malformed;
      im.log.write(logev::Malformed{e.what()});
    } catch (const json::exception& e) {
      ++im.stats.malformed;
      im.log.write(logev::Malformed{std::string("bad body: ") + e.what()});
    }
    try {
      im.housekeeping();
    } catch (const Error& e) {
      im.log.write(logev::ErrorEnd{"error", e.what()});
      im.publish();
      throw;
    }
    im.publish();
  }
  im.write_stats(mono_s());
  im.publish();
  im.writer.finish();
  const auto& s = im.stats;
  im.log.write(logev::ServerEnd{"ok", std::int64_t(s.version), std::int64_t(s.pushes),
                                std::int64_t(s.malformed), std::int64_t(s.rejected), std::int64_t(s.lost)});
}

}  // namespace esync::ps
