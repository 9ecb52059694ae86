// Who may speak to the state server: workers registering with the job token (ranks given or by
// arrival, elastic slots), further connections attached to a registered rank (its heartbeat),
// and parameter-server shards.
#include <algorithm>
#include <cstdio>

#include "coordinator_impl.hpp"
#include "esync/clock.hpp"
#include "esync/error.hpp"

namespace esync::coord {

void Coordinator::Impl::on_register(const wire::Message& m) {
  const auto& b = m.body;
  const std::string token = b.value("token", "");
  // Every field is read before anything is counted or changed: a field of the wrong type
  // throws (a malformed message), and must not do so after a rejection was counted (the
  // message counted twice, the peer never answered) or after a rank was taken.
  const std::string host = b.value("host", "?"), device = b.value("device", "cpu");
  if (!wire::token_equal(token, cfg.token)) {
    ++stats.rejected;
    log.write(logev::Reject{"wrong token", {}, host, {}});
    std::fprintf(stderr, "coordinator: rejected a registration from %s: wrong job token\n", host.c_str());
    return reply(m.identity, MsgType::kReject, 0, 0, {{"error", "wrong job token"}});
  }
  if (b.value("role", "worker") == "server") return on_register_server(m);
  if (b.value("role", "worker") == "attach") return on_attach(m);
  int rank = b.value("rank", -1);
  if (rank < 0)
    for (int r = 0; r < cfg.max_workers && rank < 0; ++r)
      if (members[static_cast<std::size_t>(r)].identity.empty()) rank = r;
  // A restarted worker takes its lost rank back: it rejoins the job (train/regroup.hpp).
  const bool rejoin = rank >= 0 && rank < cfg.max_workers &&
                      !members[static_cast<std::size_t>(rank)].identity.empty() &&
                      !members[static_cast<std::size_t>(rank)].alive;
  if (rejoin) {
    members[static_cast<std::size_t>(rank)] = Member{};
    for (const auto& gen : regroups)
      kv.erase("regroup/" + gen + "/" + std::to_string(rank));  // its predecessor's
  }
  if (rank < 0 || rank >= cfg.max_workers || !members[static_cast<std::size_t>(rank)].identity.empty()) {
    const std::string why = rank < 0 ? "the job is full (" + std::to_string(cfg.max_workers) + " workers)"
                            : rank >= cfg.max_workers
                                ? "rank " + std::to_string(rank) + " is out of range (the job has " +
                                      std::to_string(cfg.max_workers) + " workers)"
                                : "rank " + std::to_string(rank) + " is taken";
    ++stats.rejected;
    log.write(logev::Reject{why, rank, host, {}});
    return reply(m.identity, MsgType::kReject, 0, 0, {{"error", why}});
  }
  auto& mem = members[static_cast<std::size_t>(rank)];
  mem.identity = m.identity;
  mem.device = device;
  mem.host = host;
  mem.last_seen = mono_s();
  mem.rejoined = rejoin;
  if (!rejoin) ++stats.registered;
  log.write(logev::Register{
      rank, {}, mem.host, mem.device, rank >= cfg.workers, rejoin ? std::optional(true) : std::nullopt});
  if (rejoin) std::fprintf(stderr, "coordinator: worker %d on %s rejoins the job\n", rank, mem.host.c_str());
  json welcome{{"rank", rank}, {"world", cfg.workers}, {"job", cfg.job}, {"policy", cfg.job.policy}};
  // A rejoining worker of an allreduce job reports to the next regroup generation.
  if (rejoin) welcome["rejoin"] = {{"generation", regroups_closed + 1}};
  reply(m.identity, MsgType::kWelcome, static_cast<std::uint32_t>(rank), 0, welcome);
}

void Coordinator::Impl::on_attach(const wire::Message& m) {
  const int rank = m.body.value("rank", -1);
  if (rank < 0 || rank >= cfg.max_workers || members[static_cast<std::size_t>(rank)].identity.empty()) {
    const std::string why = "attach to rank " + std::to_string(rank) + ", which is not registered";
    ++stats.rejected;
    log.write(logev::Reject{why, rank, {}, {}});
    return reply(m.identity, MsgType::kReject, 0, 0, {{"error", why}});
  }
  members[static_cast<std::size_t>(rank)].attached.push_back(m.identity);
  reply(m.identity, MsgType::kAck, static_cast<std::uint32_t>(rank), 0);
}

void Coordinator::Impl::on_register_server(const wire::Message& m) {
  const int shard = m.body.value("shard", -1);
  const int shards = cfg.job.servers;
  if (shard < 0 || shard >= shards) {
    const std::string why = "shard " + std::to_string(shard) + " is out of range (the job has " +
                            std::to_string(shards) + " servers)";
    ++stats.rejected;
    log.write(logev::Reject{why, {}, m.body.value("host", "?"), {}});
    return reply(m.identity, MsgType::kReject, 0, 0, {{"error", why}});
  }
  servers[m.identity] = shard;
  log.write(logev::Register{{}, shard, m.body.value("host", "?"), {}, {}});
  reply(m.identity, MsgType::kWelcome, static_cast<std::uint32_t>(shard), 0,
        {{"rank", shard},
         {"world", cfg.workers},
         {"job", cfg.job},
         {"policy", cfg.job.policy},
         {"role", "server"}});
}

}  // namespace esync::coord
