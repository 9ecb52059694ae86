// esync worker: the training loop of one device in a distributed job. The loop is the same for
// every mode (see synchronizer.hpp); what differs is inside the Synchronizer.
//   stop: when the samples processed by all workers reach epochs x training-set size, or any
//   worker's time budget ran out (its stop vote); both are read from the reductions, so every
//   rank takes the same decision at the same round and no collective is left unmatched.
#include <ATen/Parallel.h>

#include <cmath>
#include <limits>

#include "esync/clock.hpp"
#include "esync/coord_store.hpp"
#include "esync/error.hpp"
#include "esync/heartbeat.hpp"
#include "esync/heterogeneity.hpp"
#include "esync/jsonl_log.hpp"
#include "esync/ps_client.hpp"
#include "esync/synchronizer.hpp"
#include "train/background_eval.hpp"
#include "train/data/partition.hpp"
#include "train/flat_model.hpp"
#include "train/local_state.hpp"
#include "train/sampler.hpp"
#include "train/threads.hpp"

namespace esync::train {

using nlohmann::json;

namespace {
// The coordinator publishes "lost" (rank, host, silence) in its key-value store when it
// declares a worker lost; wait a little longer than its heartbeat timeout for that.
std::string lost_workers(coord::CoordinatorClient& client, double heartbeat_timeout_s) {
  const auto wait = std::chrono::milliseconds(static_cast<long>((heartbeat_timeout_s + 2.0) * 1000));
  try {
    return "lost: " + client.kv_get("lost", wait);
  } catch (const Error& e) {
    return "the state server named no lost worker (" + std::string(e.what()) + ")";
  }
}
}  // namespace

nlohmann::json run_worker(const WorkerOptions& opt) {
  const auto timeout = std::chrono::milliseconds(static_cast<long>(opt.timeout_s * 1000));
  auto client = std::make_shared<coord::CoordinatorClient>(opt.coordinator, opt.token, timeout);
  const auto welcome = client->register_worker(opt.device, host_name(), opt.rank);
  const json& job = welcome.job;
  const int rank = welcome.rank, world = welcome.world;
  const std::string mode = job.value("mode", "esync");
  coord::Heartbeat heartbeat(opt.coordinator, opt.token, rank, client->job_id(), std::chrono::milliseconds(1000), timeout);
  ESYNC_CHECK_T(ConfigError, opt.device == "cpu", "--device ", opt.device, ": CUDA workers need the CUDA build");
  set_compute_threads(job.value("threads", 1));

  JsonlLog log(job.value("log_dir", "logs"), "worker", rank);
  log.write("start", {{"rank", rank}, {"world", world}, {"host", host_name()}, {"device", opt.device},
                      {"mode", mode}, {"config", job}});
  std::unique_ptr<comm::Collective> coll;
  std::unique_ptr<ps::PsClient> psc;
  try {
    DataOptions dopt;
    dopt.name = job.value("dataset", "fashion-mnist");
    dopt.dir = job.value("data_dir", "");
    dopt.ls_matrix = job.value("ls_matrix", "uniform");
    dopt.seed = job.value("seed", 42);
    const Dataset ds = load_dataset(dopt);
    std::vector<std::int64_t> labels;
    if (ds.num_classes > 0) labels.assign(ds.train.y.data_ptr<std::int64_t>(), ds.train.y.data_ptr<std::int64_t>() + ds.train.size());
    const auto shards = partition(labels, ds.train.size(), world, job.value("partition", "iid"),
                                  job.value("dirichlet_alpha", 0.5), dopt.seed);
    const auto& mine = shards[static_cast<std::size_t>(rank)];
    ShardSampler sampler(torch::tensor(mine, torch::kInt64), job.value("batch", 64), dopt.seed + 7919u * (rank + 1));

    const std::string model_name = job.value("model", "lenet5");
    torch::manual_seed(dopt.seed);
    FlatModel fm(make_model(model_name, ds.sample_shape, ds.num_classes), static_cast<std::int64_t>(sync::control_slots(world)));
    // The PS client sends slices of fm's buffers zero-copy: close it before fm goes, however
    // this block is left (a send still queued after an error must not read freed memory).
    struct CloseFirst {
      std::unique_ptr<ps::PsClient>& p;
      ~CloseFirst() { p.reset(); }
    } close_first{psc};
    // Transport: the parameter server when the job has shards, else an allreduce group. Either
    // way every rank starts from rank 0's initial weights.
    if (const int servers = job.value("servers", 0); servers > 0) {
      std::vector<std::string> endpoints;
      for (int s = 0; s < servers; ++s) endpoints.push_back(client->kv_get("ps/" + std::to_string(s), timeout));
      const auto n = static_cast<std::size_t>(sync::mode_syncs_gradients(mode) ? fm.num_params() : fm.size());
      psc = std::make_unique<ps::PsClient>(endpoints, opt.token, rank, client->job_id(), n, timeout);
      if (rank == 0) psc->init(fm.data());
      psc->pull(fm.data());
    } else {
      comm::CollectiveOptions copt;
      copt.backend = job.value("backend", "auto") == "auto" ? "gloo" : job.value("backend", "gloo");
      copt.rank = rank;
      copt.size = world;
      copt.timeout = timeout;
      coll = comm::make_collective(copt, std::make_shared<coord::CoordStore>(client));
      coll->broadcast(fm.data(), static_cast<std::size_t>(fm.size()), 0);
      float base = static_cast<float>(unix_s());  // one time origin for everyone's arrival stamps
      coll->broadcast(&base, 1, 0);
      sync::set_time_base(base);
    }

    sync::SyncContext sctx{coll.get(), psc.get(), client.get(), welcome.policy, job.value("global_lr", 1.0f),
                           job.value("k_fixed", 4), job.value("k_max", 64)};
    auto syncer = sync::make_synchronizer(mode, sctx);
    OptimizerConfig oc;
    oc.kind = job.value("optimizer", "momentum");
    oc.lr = syncer->syncs_gradients() ? job.value("lr", 0.02f) : job.value("local_lr", 0.02f);
    oc.momentum = job.value("momentum", 0.9f);
    FlatOptimizer optim(oc, static_cast<std::size_t>(fm.num_params()));

    const auto factors = job.value("slowdown", std::vector<double>{});
    SlowdownModel slow(rank < static_cast<int>(factors.size()) ? factors[static_cast<std::size_t>(rank)] : 1.0);
    DelayModel delay(job.value("delay", ""), dopt.seed + static_cast<std::uint64_t>(rank));
    // --epochs 0 (with a --time-budget): no sample target, the budget alone stops the job.
    const double epochs = job.value("epochs", 1.0);
    const double target = epochs > 0 ? epochs * double(ds.train.size()) : std::numeric_limits<double>::infinity();
    const double budget = job.value("time_budget_s", 0.0), eval_every = job.value("eval_every_s", 5.0);
    const int log_every = job.value("log_every", 20);
    std::unique_ptr<BackgroundEval> evaluator;
    if (rank == 0) {
      torch::manual_seed(dopt.seed);
      evaluator = std::make_unique<BackgroundEval>(make_model(model_name, ds.sample_shape, ds.num_classes), ds.test,
                                                   ds.num_classes, log, ds.f_star);
      evaluator->submit(fm.flat(), {{"round", 0}, {"epoch", 0.0}, {"samples_seen", 0}, {"wall_s", 0.0}});
    }

    const double t0 = mono_s(), t0_unix = unix_s();  // training starts: every wall_s counts from here
    double seen = 0, last_eval = -1e9, step_s = 0, compute_total = 0, injected_total = 0, delay_total = 0;
    std::int64_t steps = 0, my_samples = 0;
    sync::SyncStats st, total;
    bool stop = false;
    // Both stop rules in one place: this worker's vote goes into a reduction; the decision comes
    // out of it (the consensus, or all workers' samples reaching the target), equal on every rank.
    auto vote = [&] { return budget > 0 && mono_s() - t0 > budget; };
    auto decide = [&](bool consensus) {
      seen += st.total_samples;
      return consensus || seen >= target;
    };
    for (std::uint64_t round = 0; !stop; ++round) {
      const int k = syncer->begin_round(round, fm.data(), static_cast<std::size_t>(fm.size()), step_s);
      // injected = emulated slowdown (a slower device) + injected delay (a slower network), kept
      // apart as well so the computing-time ratio can tell them apart.
      double round_compute = 0, round_device = 0, round_injected = 0, round_delay = 0, round_samples = 0;
      int k_done = 0;
      st.clear();
      while (k_done < k) {
        // compute: the whole local step (batch, forward, backward, optimiser), everything but
        // the synchronisation and injected delays, so K_i x c_i really is the round's length.
        const double ts = mono_s();
        const auto idx = sampler.next();
        fm.zero_grad();
        auto loss = loss_fn(fm.net().forward(ds.train.inputs(idx)), ds.train.y.index_select(0, idx), ds.num_classes);
        loss.backward();
        round_samples += double(idx.size(0));
        double not_compute = 0;
        if (syncer->syncs_gradients()) {
          const double tsync = mono_s();
          round_delay += sleep_s(delay.sample_s());
          stop = decide(syncer->reduce_gradients(fm.data(), fm.grad_data(), static_cast<std::size_t>(fm.num_params()),
                                                 double(idx.size(0)), vote(), st));
          not_compute = mono_s() - tsync;
        }
        if (!syncer->applies_update()) optim.step(fm.data(), fm.grad_data(), oc.lr);
        const double compute = mono_s() - ts - not_compute;
        // Emulate a device `slowdown` x slower: to the state server that is compute time (the
        // device is slower), to the logs it is injected time, kept apart from real compute.
        const double slept = sleep_s(slow.sleep_for(compute));
        round_injected += slept;
        round_device += compute + slept;
        round_compute += compute;
        ++k_done;
        ++steps;
        if (steps % log_every == 0)
          log.write("step", {{"round", round}, {"k", k_done}, {"loss", loss.item<double>()}, {"samples", my_samples + round_samples},
                             {"compute_s", compute}, {"injected_s", slept}});
        if (stop || syncer->step_done(round, compute + slept)) break;
      }
      if (!syncer->syncs_gradients()) {
        round_delay += sleep_s(delay.sample_s());
        stop = decide(syncer->end_round(fm.data(), static_cast<std::size_t>(fm.size()), round_samples, vote(), st));
      }
      step_s = k_done ? round_device / k_done : step_s;
      my_samples += static_cast<std::int64_t>(round_samples);
      compute_total += round_compute;
      round_injected += round_delay;
      injected_total += round_injected;
      delay_total += round_delay;
      total.comm_s += st.comm_s, total.wait_s += st.wait_s, total.bytes_sent += st.bytes_sent, total.bytes_recv += st.bytes_recv;
      log.write("sync", {{"round", round}, {"k_done", k_done}, {"k_assigned", k}, {"comm_s", st.comm_s}, {"wait_s", st.wait_s},
                         {"bytes_sent", st.bytes_sent}, {"bytes_recv", st.bytes_recv}, {"staleness", st.staleness},
                         {"compute_s", round_compute}, {"injected_s", round_injected}, {"slowdown_s", round_injected - round_delay},
                         {"delay_s", round_delay}, {"samples", round_samples}});
      if (evaluator && (stop || mono_s() - last_eval >= eval_every)) {
        last_eval = mono_s();
        evaluator->submit(fm.flat(), {{"round", round}, {"epoch", seen / double(ds.train.size())}, {"samples_seen", seen},
                                      {"wall_s", mono_s() - t0}}, /*force=*/stop);
      }
    }
    // Throughput counts the training loop only: the final evaluation below is not training.
    const double train_wall = mono_s() - t0;
    json final = evaluator ? evaluator->finish() : json::object();
    const double wall = mono_s() - t0;
    json summary = {{"rank", rank}, {"mode", mode}, {"steps", steps}, {"samples", my_samples}, {"t0_unix", t0_unix},
                    {"wall_s", wall}, {"train_wall_s", train_wall}, {"samples_per_s", my_samples / train_wall},
                    {"compute_s", compute_total}, {"injected_s", injected_total}, {"delay_s", delay_total},
                    {"comm_s", total.comm_s}, {"wait_s", total.wait_s}, {"bytes_sent", total.bytes_sent},
                    {"bytes_recv", total.bytes_recv}, {"final", final}};
    log.write("end", {{"status", "ok"}, {"summary", summary}});
    coll.reset();
    if (psc) psc->leave("ok");
    client->goodbye("ok");
    return summary;
  } catch (const PeerLostError& e) {
    // Close our side first, so peers blocked on us fail at once instead of at their timeout,
    // then ask the state server who is gone (it declares a silent worker lost after its
    // heartbeat timeout) and say so.
    coll.reset();
    psc.reset();
    const std::string why = std::string(e.what()) + "; " + lost_workers(*client, job.value("heartbeat_timeout_s", 10.0));
    log.write("end", {{"status", "error"}, {"error", why}});
    try {
      client->goodbye("error: " + why);
    } catch (...) {
    }
    ESYNC_THROW(PeerLostError, why);
  } catch (const std::exception& e) {
    log.write("end", {{"status", "error"}, {"error", e.what()}});
    try {
      client->goodbye(std::string("error: ") + e.what());
    } catch (...) {
    }
    throw;
  }
}

}  // namespace esync::train
