#include "train/regroup.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>

#include "esync/clock.hpp"
#include "esync/coord_store.hpp"
#include "esync/error.hpp"
#include "esync/modes.hpp"

namespace esync::train {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

milliseconds seconds(double s) { return milliseconds(static_cast<long>(1000 * s)); }

// The Place that copies between buffers at a and b: the GPU's, if either is on one.
const kernels::Place& copier(const kernels::Place& a, const kernels::Place& b) { return a.is_cuda() ? a : b; }

// n floats from src (at `from`) into a new buffer at `at`, the copy finished.
kernels::Buffer copy_to(const kernels::Place& at, const kernels::Place& from, const float* src,
                        std::size_t n) {
  kernels::Buffer b(at, n);
  kernels::copy(copier(from, at), b.data(), src, n);
  kernels::wait(copier(from, at));
  return b;
}

// Step 4 into copies: nothing of this worker changes unless every broadcast arrived. `at`: where
// w, agreed and the collective's buffers live (the host for gloo, the GPU for NCCL); the
// optimiser's state lives on the model's device.
void take_model(const Regrouped& g, comm::Collective& c, const kernels::Place& at, float* w,
                const float* agreed, std::size_t n, FlatOptimizer* optim) {
  kernels::Buffer model = copy_to(at, at, agreed ? agreed : w, n);
  c.broadcast(model.data(), n, g.source);
  std::vector<kernels::Buffer> state;
  if (optim)
    for (auto& entry : optim->state()) {
      const kernels::Buffer& b = *entry.second;
      state.push_back(copy_to(at, b.place(), b.data(), b.size()));
      c.broadcast(state.back().data(), state.back().size(), g.source);
    }
  kernels::copy(at, w, model.data(), n);
  kernels::wait(at);
  if (!optim) return;
  std::size_t i = 0;
  for (auto& entry : optim->state()) {
    kernels::Buffer& b = *entry.second;
    kernels::copy(copier(b.place(), at), b.data(), state[i++].data(), b.size());
    kernels::wait(copier(b.place(), at));
  }
  optim->set_steps(g.at.steps);
}

}  // namespace

GroupRecovery::GroupRecovery(const WorkerJob& job)
    : job_(job),
      enabled_(job.config.servers == 0 && job.config.on_failure == "continue" && job.client),
      generation_(job.rejoin_generation.value_or(1) - 1) {}

Regrouped GroupRecovery::answer(const GroupProgress& mine) {
  Regrouped g;
  g.generation = ++generation_;
  g.group_rank = -1;
  g.established = false;
  const std::string gen = std::to_string(g.generation);
  // On a connection of its own whose every call is bounded by the heartbeat timeout: a state
  // server silent that long is lost (as the heartbeat judges it), and the worker stops saying so
  // instead of waiting out the job's wait timeout.
  const auto lost = [&](const std::string& why) {
    ESYNC_THROW(TimeoutError, "lost the state server at ", job_.client->endpoint(),
                " while the allreduce group re-formed: ", why);
  };
  const auto limit = seconds(job_.config.heartbeat_timeout_s);
  std::optional<std::string> reply;
  try {
    if (!client_) {
      client_ = std::make_unique<coord::CoordinatorClient>(job_.client->endpoint(), job_.token, limit);
      client_->attach(job_.rank, job_.client->job_id());
    }
    client_->kv_set("regroup/" + gen + "/" + std::to_string(job_.rank), json{{"round", mine.round},
                                                                             {"seen", mine.seen},
                                                                             {"steps", mine.steps},
                                                                             {"evaluates", mine.evaluates},
                                                                             {"joining", mine.joining}}
                                                                            .dump());
    // 2. The answer comes once the dead are declared lost (the heartbeat timeout) and every live
    // member noticed the broken group (at its next collective, within the wait timeout); to a
    // newcomer, once the members reach a round boundary, at most three rounds (regroup.hpp), each
    // bounded by the wait timeout.
    const double wait = (mine.joining ? 4 : 1) * (job_.timeout.count() / 1e3) + beats();
    const double deadline = mono_s() + wait;
    while (!reply && mono_s() < deadline) {
      if (job_.heartbeat && job_.heartbeat->coordinator_lost()) lost(job_.heartbeat->error());
      reply = client_->kv_poll("regroup/" + gen, milliseconds(500), limit);
    }
  } catch (const TimeoutError& e) {
    lost(e.what());
  }
  if (!reply)
    ESYNC_THROW(TimeoutError, "the state server named no members for regroup generation ", gen, " within ",
                (mine.joining ? 4 : 1) * (job_.timeout.count() / 1e3) + beats(), " s");
  const json answer = json::parse(*reply);
  std::int64_t best = std::numeric_limits<std::int64_t>::min();
  for (const auto& m : answer.at("members")) {
    const int rank = m.at("rank").get<int>();
    if (rank == job_.rank) g.group_rank = static_cast<int>(g.members.size());
    const auto r = m.at("round").get<std::int64_t>();
    if (r > best) {  // the first (lowest rank) of the most advanced members
      best = r, g.source = static_cast<int>(g.members.size());
      g.at = {r, m.at("seen").get<double>(), m.at("steps").get<std::int64_t>()};
    }
    g.evaluator = g.evaluator || m.value("evaluates", false);
    g.established = g.established || !m.value("joining", false);
    g.members.push_back(rank);
  }
  return g;
}

void GroupRecovery::meet(WorkerSetup& s, const Regrouped& g) {
  comm::CollectiveOptions copt;
  copt.backend = s.backend;
  copt.device = std::max(0, s.fm->place().cuda_device);  // NCCL: this rank's GPU
  copt.rank = g.group_rank;
  copt.size = static_cast<int>(g.members.size());
  copt.bind_host = job_.bind_host;
  copt.timeout = job_.timeout;
  copt.rendezvous_timeout = seconds(std::max(5.0, beats()));
  copt.prefix = "comm/g" + std::to_string(g.generation);  // apart from the broken group's keys
  s.coll = comm::make_collective(copt, std::make_shared<coord::CoordStore>(job_.client));
}

double GroupRecovery::beats() const {
  return job_.config.heartbeat_timeout_s + 2 * job_.config.heartbeat_interval_s;
}

Regrouped GroupRecovery::recover(WorkerSetup& s, const GroupProgress& mine, float* w, const float* agreed,
                                 std::size_t n, FlatOptimizer* optim) {
  // Each attempt after the first follows another loss; there cannot be more than the others.
  const int attempts = std::max(1, job_.config.capacity(job_.world));
  for (int attempt = 1;; ++attempt) {
    s.coll.reset();  // 1. our sockets close: a peer still blocked on us fails now, not at its timeout
    if (job_.heartbeat && job_.heartbeat->coordinator_lost())
      ESYNC_THROW(TimeoutError,
                  "the allreduce group broke and the state server is gone too: ", job_.heartbeat->error());
    const Regrouped g = answer(mine);
    if (g.group_rank < 0 && mine.joining) continue;  // closed before this newcomer was ready: the next
    ESYNC_CHECK_T(PeerLostError, g.group_rank >= 0, "worker ", job_.rank,
                  " was declared lost while its group re-formed (generation ", g.generation,
                  ") and is not among its members");
    if (!g.established) return g;
    try {
      meet(s, g);  // 3.
      take_model(g, *s.coll, s.stage->sync_place(), w, agreed, n, optim);
      return g;
    } catch (const Error& e) {
      const bool broke = dynamic_cast<const PeerLostError*>(&e) || dynamic_cast<const TimeoutError*>(&e);
      if (!broke || attempt >= attempts) throw;
      std::fprintf(stderr, "worker %d: the re-formed group broke again (%s); once more\n", job_.rank,
                   e.what());
    }
  }
}

Regrouped GroupRecovery::rebuild(WorkerSetup& s, std::unique_ptr<sync::Synchronizer>& syncer,
                                 sync::SyncContext& sctx, FlatOptimizer& optim, const GroupProgress& mine,
                                 bool settled, const std::string& why, JsonlLog& log) {
  const double t0 = mono_s();
  const auto n = static_cast<std::size_t>(s.fm->size());
  const kernels::Place at = s.stage->sync_place();
  kernels::Buffer agreed;
  const bool gradients = find_mode(job_.mode).syncs_gradients();
  if (syncer) {
    if (const float* a = syncer->agreed_model(); a && !settled) agreed = copy_to(at, at, a, n);
    syncer.reset();
  }
  const Regrouped g = recover(s, mine, s.stage->weights(), agreed.empty() ? nullptr : agreed.data(), n,
                              gradients ? &optim : nullptr);
  if (!g.established) {
    std::fprintf(stderr, "worker %d: the job ended before this restarted worker could rejoin it\n",
                 job_.rank);
    return g;
  }
  s.stage->upload_weights();
  sctx.collective = s.coll.get();
  syncer = sync::make_synchronizer(job_.mode, sctx);
  logev::WorkerRegroup ev;
  ev.generation = g.generation, ev.round = g.at.round, ev.members = g.members;
  ev.source = g.members[static_cast<std::size_t>(g.source)], ev.seconds = mono_s() - t0, ev.why = why;
  log.write(ev);
  std::fprintf(stderr,
               "worker %d: the group re-formed with %zu workers in %.1f s; going on from round %lld\n",
               job_.rank, g.members.size(), ev.seconds, static_cast<long long>(g.at.round + 1));
  return g;
}

}  // namespace esync::train
