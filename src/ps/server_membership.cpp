// A shard's membership: elastic joins parked until their version, workers that leave, and the
// timeouts that find lost workers (sync rounds they stall, silence under the asynchronous rules).
#include <cstdio>

#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "server_impl.hpp"

namespace esync::ps {

void ShardServer::Impl::on_join(const wire::Message& m, int rank) {
  ESYNC_CHECK_T(ProtocolError, rules != nullptr, "join before the weights were set");
  const auto at = m.body.at("join").get<std::uint64_t>();
  if (!is_sync_rule(cfg.rule.rule) || at == rules->version()) return admit(m.identity, rank);
  if (at < rules->version())
    return reply(m.identity, rank, MsgType::kPullReply, {{"late", true}, {"version", rules->version()}});
  joins.push_back({m.identity, rank, mono_s(), 0, at});
}

void ShardServer::Impl::admit(const std::string& identity, int rank) {
  rules->add_worker(rank);
  heard[rank] = mono_s();
  log.write(logev::ServerJoin{rank, static_cast<std::int64_t>(rules->version()), rules->live_workers()});
  send_weights(identity, rank, {{"joined", true}});
}

void ShardServer::Impl::admit_due() {
  for (auto it = joins.begin(); it != joins.end();) {
    if (it->join_at > rules->version()) {
      ++it;
      continue;
    }
    admit(it->identity, it->rank);
    it = joins.erase(it);
  }
}

void ShardServer::Impl::leave(int rank, const std::string& why) {
  std::erase_if(joins, [&](const Waiting& w) { return w.rank == rank; });
  if (!rules) return;
  if (rules->remove_worker(rank)) close_round();
  log.write(logev::ServerLeave{rank, why, rules->live_workers()});
}

void ShardServer::Impl::lose(int r, double silent_s, const std::string& what) {
  ++stats.lost;
  log.write(logev::ServerLost{r, static_cast<std::int64_t>(rules->version()), silent_s});
  std::fprintf(stderr, "server-%d: %s worker %d: %s for %.1f s\n", cfg.shard,
               cfg.abort_on_failure ? "lost" : "dropped", r, what.c_str(), silent_s);
  ESYNC_CHECK_T(PeerLostError, !cfg.abort_on_failure, "parameter-server shard ", cfg.shard, ": lost worker ",
                r, " (", what, " for ", silent_s, " s) and the job runs with --on-failure abort");
}

void ShardServer::Impl::housekeeping() {
  const double now = mono_s(), limit = cfg.timeout.count() / 1e3;
  std::vector<int> lost_now;
  {
    std::lock_guard<std::mutex> lk(lost_mu);
    lost_now.swap(lost_by_coordinator);
  }
  for (const int r : lost_now)
    if (rules && rules->is_live(r)) {
      const auto it = heard.find(r);
      lose(r, it == heard.end() ? 0.0 : now - it->second, "lost by the state server (no heartbeat)");
      if (rules->remove_worker(r)) close_round();
    }
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
    ESYNC_THROW(TimeoutError, "parameter-server shard ", cfg.shard, ": no message from any worker for ",
                limit, " s");
  if (now - last_log >= cfg.log_every_s) write_stats(now);
}

}  // namespace esync::ps
