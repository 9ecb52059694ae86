// The state server loop. One thread, one ROUTER socket; every request gets exactly one reply
// (except key-value gets, answered when the key appears or their deadline passes), so workers
// can use plain DEALER request/reply with a timeout.
#include <algorithm>
#include <cstdio>

#include "coordinator_impl.hpp"
#include "esync/clock.hpp"
#include "esync/error.hpp"

namespace esync::coord {

Coordinator::Impl::Impl(CoordinatorConfig c) : cfg(std::move(c)) {
  ESYNC_CHECK_T(ConfigError, cfg.workers >= 1, "the coordinator needs --workers >= 1");
  if (cfg.token.empty()) cfg.token = wire::random_token();
  if (cfg.max_workers <= 0) cfg.max_workers = cfg.job.capacity(cfg.workers);
  ESYNC_CHECK_T(ConfigError, cfg.max_workers >= cfg.workers, "--max-workers ", cfg.max_workers,
                " < --workers ", cfg.workers);
  // Ranks workers..max_workers-1 are the elastic slots: workers that join a running job.
  const std::string& policy = cfg.job.policy;
  if (policy == "assign" || policy == "deadline")
    assign = std::make_unique<AssignPolicy>(cfg.max_workers, cfg.job.k_base, cfg.job.k_max);
  else if (policy == "poll")
    poll = std::make_unique<PollPolicy>(cfg.max_workers);
  else
    ESYNC_THROW(ConfigError, "unknown --policy '", policy, "' (expected assign, deadline or poll)");
  members.resize(static_cast<std::size_t>(cfg.max_workers));
  wire::secure_server(sock, cfg.curve);
  const std::string last = wire::bind_router(sock, cfg.bind, cfg.port, "the coordinator",
                                             static_cast<std::int64_t>(wire::Limits{}.max_body_bytes) + 4096);
  port = std::stoi(last.substr(last.rfind(':') + 1));
  if (!cfg.log_dir.empty()) log = JsonlLog(cfg.log_dir, "coordinator", 0);
  log.write(logev::CoordinatorStart{"coordinator", port, cfg.workers, policy, wire::token_hint(cfg.token),
                                    cfg.curve.on(), cfg.job});
  start_metrics();
}

void Coordinator::Impl::reply(const std::string& identity, MsgType type, std::uint32_t rank,
                              std::uint64_t round, json body) {
  auto m = wire::make(type, cfg.job_id, rank, round, std::move(body));
  m.identity = identity;
  wire::send(sock, m);
}

Member* Coordinator::Impl::member(const wire::Message& m) {
  const auto r = m.header.rank;
  ESYNC_CHECK_T(ProtocolError, r < members.size() && !members[r].identity.empty(),
                "message from unregistered rank ", r);
  ESYNC_CHECK_T(ProtocolError, m.header.job_id == cfg.job_id, "job id ", m.header.job_id,
                " is not this job's");
  auto& mem = members[r];
  // Only the connection that registered the rank (or one attached to it with the token) may
  // speak for it: knowing a rank and the job id is not enough to report, set keys or leave.
  if (m.identity != mem.identity &&
      std::find(mem.attached.begin(), mem.attached.end(), m.identity) == mem.attached.end())
    return nullptr;
  mem.last_seen = mono_s();
  return &mem;
}

void Coordinator::Impl::answer_waiters(const std::string& key) {
  for (auto it = waiters.begin(); it != waiters.end();) {
    if (it->key == key) {
      reply(it->identity, MsgType::kKvValue, it->rank, 0, {{"key", key}, {"value", kv[key]}, {"id", it->id}});
      it = waiters.erase(it);
    } else {
      ++it;
    }
  }
}

void Coordinator::Impl::handle(const wire::Message& m) {
  ++stats.messages;
  if (m.header.type == MsgType::kRegister) return on_register(m);
  if (const auto s = servers.find(m.identity); s != servers.end()) {
    ESYNC_CHECK_T(ProtocolError, m.header.job_id == cfg.job_id, "job id ", m.header.job_id,
                  " is not this job's");
    const auto t = m.header.type;
    ESYNC_CHECK_T(
        ProtocolError,
        t == MsgType::kKvSet || t == MsgType::kKvGet || t == MsgType::kHeartbeat || t == MsgType::kShutdown,
        wire::type_name(t), " message from parameter server ", s->second);
    if (t == MsgType::kHeartbeat || t == MsgType::kShutdown)
      return reply(m.identity, MsgType::kAck, m.header.rank, 0);
  }
  Member* mem = servers.count(m.identity) ? nullptr : member(m);
  const auto rank = m.header.rank;
  if (!mem && !servers.count(m.identity)) {
    ++stats.rejected;
    log.write(logev::Reject{"connection did not register this rank", rank, {}, {}});
    return reply(m.identity, MsgType::kReject, rank, 0,
                 {{"error", "this connection did not register rank " + std::to_string(rank)}});
  }
  switch (m.header.type) {
    case MsgType::kHeartbeat:
      if (const auto it = m.body.find("status"); it != m.body.end() && it->is_object() && !it->empty()) {
        mem->status = *it;
        if (first_report == 0) first_report = mono_s();
      }
      return reply(m.identity, MsgType::kAck, rank, m.header.round, {{"joining", joining_generation()}});
    case MsgType::kKvSet: {
      const std::string key = m.body.at("key").get<std::string>();
      kv[key] = m.body.at("value").get<std::string>();
      reply(m.identity, MsgType::kAck, rank, 0);
      answer_waiters(key);
      return on_regroup_key(key, rank);
    }
    case MsgType::kKvGet: {
      const std::string key = m.body.at("key").get<std::string>();
      const std::int64_t id = m.body.value("id", std::int64_t{-1});
      if (auto it = kv.find(key); it != kv.end())
        return reply(m.identity, MsgType::kKvValue, rank, 0,
                     {{"key", key}, {"value", it->second}, {"id", id}});
      waiters.push_back({m.identity, key, rank, mono_s() + m.body.value("wait_ms", 30000) / 1e3, id});
      return;
    }
    case MsgType::kReport: {  // assign policy: end of round r (or the start of the job)
      ESYNC_CHECK_T(ProtocolError, assign != nullptr, "report message, but the policy is ", cfg.job.policy);
      const double step_s = m.body.value("step_s", 0.0);
      if (step_s > 0) assign->report(static_cast<int>(rank), step_s);
      mem->step_s = step_s > 0 ? assign->step_time(static_cast<int>(rank)) : mem->step_s;
      mem->k = assign->plan()[rank];
      mem->state = "round " + std::to_string(m.header.round);
      logev::Assign event{static_cast<int>(rank), static_cast<std::int64_t>(m.header.round), mem->k,
                          m.body.value("k_done", 0), mem->step_s};
      json plan{{"k", mem->k}};
      if (cfg.job.policy == "deadline") {  // the pacer (deadline 0) does exactly k; the others run to T
        const auto d = deadline.plan(*assign, static_cast<int>(rank), m.header.round);
        mem->k = d.k;
        plan = {{"k", d.k}, {"deadline_s", d.deadline_s}, {"share", d.share}};
        event.k = d.k, event.deadline_s = d.deadline_s, event.share = d.share;
      }
      log.write(event);
      plan["joining"] = joining_generation();
      return reply(m.identity, MsgType::kAssign, rank, m.header.round, plan);
    }
    case MsgType::kPoll: {  // poll policy: after every local step, "ready?"
      ESYNC_CHECK_T(ProtocolError, poll != nullptr, "poll message, but the policy is ", cfg.job.policy);
      const double now = mono_s();
      if (m.body.value("phase", "") == "start") {  // this worker begins round r (the first one opens it)
        poll->join_round(static_cast<int>(rank), m.header.round, now);
        return reply(m.identity, MsgType::kPollAnswer, rank, m.header.round, {{"ready", false}});
      }
      poll->step_done(static_cast<int>(rank), m.body.at("step_s").get<double>(), now);
      const bool ready = poll->ready(static_cast<int>(rank), now);
      mem->k = poll->steps(static_cast<int>(rank));
      if (ready)
        log.write(logev::Assign{static_cast<int>(rank), static_cast<std::int64_t>(m.header.round), mem->k});
      return reply(m.identity, MsgType::kPollAnswer, rank, m.header.round, {{"ready", ready}});
    }
    case MsgType::kShutdown:
      mem->done = true;
      mem->state = m.body.value("status", "done");
      log.write(logev::Goodbye{static_cast<int>(rank), mem->state});
      reply(m.identity, MsgType::kAck, rank, 0);
      return close_regroups();  // a worker that left with an error is not waited for
    default:
      ESYNC_THROW(ProtocolError, "unexpected ", wire::type_name(m.header.type),
                  " message at the coordinator");
  }
}

void Coordinator::Impl::housekeeping() {
  const double now = mono_s();
  for (auto it = waiters.begin(); it != waiters.end();) {
    if (now > it->deadline) {
      reply(it->identity, MsgType::kKvValue, it->rank, 0,
            {{"key", it->key}, {"missing", true}, {"id", it->id}});
      it = waiters.erase(it);
    } else {
      ++it;
    }
  }
  const auto lost_before = stats.lost;
  for (std::size_t r = 0; r < members.size(); ++r) {
    auto& mem = members[r];
    if (mem.identity.empty() || mem.done || !mem.alive || now - mem.last_seen < cfg.heartbeat_timeout_s)
      continue;
    mem.alive = false;
    mem.state = "lost";
    if (assign) assign->forget(static_cast<int>(r));  // the survivors' K follow the slowest survivor
    ++stats.lost;
    log.write(logev::CoordinatorLost{static_cast<int>(r), mem.host, now - mem.last_seen});
    // Published for the survivors, who ask when a collective fails (see the worker).
    char who[200];
    std::snprintf(who, sizeof who, "worker %zu on %s (silent for %.1f s)", r, mem.host.c_str(),
                  now - mem.last_seen);
    kv["lost"] += (kv["lost"].empty() ? "" : ", ") + std::string(who);
    answer_waiters("lost");
    // And one key per loss, "lost/<n>" = the rank, for the shards, which wait for the next one
    // and drop that worker at once instead of after a whole round's wait timeout.
    const std::string nth = "lost/" + std::to_string(stats.lost - 1);
    kv[nth] = std::to_string(r);
    answer_waiters(nth);
    std::fprintf(stderr, "coordinator: lost worker %zu on %s (silent for %.1f s)\n", r, mem.host.c_str(),
                 now - mem.last_seen);
  }
  if (stats.lost != lost_before) close_regroups();  // the survivors no longer wait for them
  if (metrics && now - last_metrics >= 1.0) {
    last_metrics = now;
    metrics->set(metrics_text());
  }
  if (cfg.status && now - last_status > 5.0) {
    last_status = now;
    std::string line = "coordinator:";
    char buf[160];
    for (std::size_t r = 0; r < members.size(); ++r) {
      const auto& mem = members[r];
      std::snprintf(buf, sizeof buf, " [%zu %s K=%d step=%.1fms %s]", r, mem.device.c_str(), mem.k,
                    mem.step_s * 1e3, mem.identity.empty() ? "waiting" : mem.state.c_str());
      line += buf;
    }
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

bool Coordinator::Impl::finished() const {
  if (stats.registered < static_cast<std::uint64_t>(cfg.workers)) return false;
  for (const auto& mem : members)
    if (!mem.done && mem.alive) return false;
  return true;
}

Coordinator::Coordinator(CoordinatorConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
Coordinator::~Coordinator() = default;
int Coordinator::port() const { return impl_->port; }
const std::string& Coordinator::token() const { return impl_->cfg.token; }
CoordinatorStats Coordinator::stats() const {
  std::lock_guard<std::mutex> lk(impl_->stats_mu);
  return impl_->published;
}

void Coordinator::run(const std::atomic<bool>& stop) {
  auto& im = *impl_;
  while (!stop.load() && !im.finished()) {
    try {
      if (auto m = wire::recv(im.sock, std::chrono::milliseconds(50), /*router=*/true)) im.handle(*m);
    } catch (const ProtocolError& e) {
      ++im.stats.malformed;
      im.log.write(logev::Malformed{e.what()});
    } catch (const ConfigError& e) {  // values the policies refuse (negative times, unknown round)
      ++im.stats.malformed;
      im.log.write(logev::Malformed{e.what()});
    } catch (const json::exception& e) {
      ++im.stats.malformed;
      im.log.write(logev::Malformed{std::string("bad body: ") + e.what()});
    }
    im.housekeeping();
    std::lock_guard<std::mutex> lk(im.stats_mu);
    im.published = im.stats;
  }
  const auto& s = im.stats;
  im.log.write(logev::CoordinatorEnd{"ok", std::int64_t(s.messages), std::int64_t(s.malformed),
                                     std::int64_t(s.rejected), std::int64_t(s.lost)});
}

}  // namespace esync::coord
