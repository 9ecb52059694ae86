// A worker's training loop (worker_parts.hpp). The loop is the same for every mode (see
// synchronizer.hpp); what differs is inside the Synchronizer.
//   stop: when the samples processed by all workers reach epochs x training-set size, or any
//   worker's time budget ran out (its stop vote); both are read from the reductions, so every
//   rank takes the same decision at the same round and no collective is left unmatched.
#include <cmath>
#include <cstdio>
#include <limits>

#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "esync/heterogeneity.hpp"
#include "esync/modes.hpp"
#include "esync/optimizer.hpp"
#include "esync/synchronizer.hpp"
#include "train/background_eval.hpp"
#include "train/batches.hpp"
#include "train/final_eval.hpp"
#include "train/regroup.hpp"
#include "train/worker_checkpoint.hpp"
#include "train/worker_parts.hpp"
#include "train/worker_totals.hpp"

namespace esync::train {

using nlohmann::json;

logev::WorkerSummary train_loop(const WorkerJob& job, WorkerSetup& s, JsonlLog& log) {
  const JobConfig& cfg = job.config;
  FlatModel& fm = *s.fm;
  // The model, its gradient and the optimiser live on the worker's device; the synchroniser
  // reads and writes their host side (sync_staging.hpp), the same memory on a CPU worker.
  SyncStaging& stage = *s.stage;
  const kernels::Place place = fm.place();
  const Dataset& ds = s.ds;
  const auto n_all = static_cast<std::size_t>(fm.size()),
             n_params = static_cast<std::size_t>(fm.num_params());
  SlowdownModel slow(cfg.slowdown_of(job.rank), cfg.slowdown_basis);
  const std::uint64_t seed = cfg.seed;
  DelayModel delay(cfg.delay, seed + static_cast<std::uint64_t>(job.rank));
  // The injected network delay is slept by the synchroniser before each exchange, so that
  // --overlap hides it as it hides the network; it comes back in SyncStats::delay_s.
  sync::SyncContext sctx{s.coll.get(),
                         s.psc.get(),
                         job.client.get(),
                         job.policy,
                         static_cast<float>(cfg.global_lr),
                         cfg.k_fixed,
                         cfg.k_max,
                         cfg.overlap,
                         [&delay] { return delay.sample_s(); }};
  sctx.weighting = parse_weighting(cfg.weighting);
  sctx.params = n_params;
  sctx.scaffold = cfg.drift_correction == "scaffold";
  sctx.timeout = job.timeout;
  sctx.place = stage.sync_place();
  // A broken allreduce group re-forms, a restarted worker rejoins it (regroup.hpp): this worker
  // votes to regroup when the state server says a rejoining worker waits for a generation it
  // has not been through.
  GroupRecovery recovery(job);
  if (recovery.enabled())
    sctx.regroup_vote = [&job, &recovery] {
      const std::int64_t waits =
          std::max(job.heartbeat ? job.heartbeat->joining() : 0, job.client->joining_seen());
      return waits > recovery.generation();
    };
  // A rejoining worker has no group yet: its synchroniser is made when it joins one (below).
  const bool rejoining = job.rejoin_generation && recovery.enabled();
  std::unique_ptr<sync::Synchronizer> syncer = rejoining ? nullptr : sync::make_synchronizer(job.mode, sctx);
  // The gradient modes step at --lr (here over allreduce; the shards step on the parameter
  // server), the model-averaging modes' local steps at --local-lr; either on the job's schedule.
  const double base_lr = find_mode(job.mode).syncs_gradients() ? cfg.lr : cfg.local_lr;
  FlatOptimizer optim(optimizer_config(cfg, base_lr), n_params, place);
  const LrSchedule schedule = lr_schedule(cfg, base_lr, ds.train.size());
  BatchFeeder feeder(
      ds.train, [&s] { return s.sampler->next(); }, fm.flat().device());
  WorkerCheckpoints checkpoints(job, s);
  // --epochs 0 (with a --time-budget): no sample target, the budget alone stops the job.
  const double epochs = cfg.epochs;
  const double target =
      epochs > 0 ? epochs * double(ds.train.size()) : std::numeric_limits<double>::infinity();
  const double budget = cfg.time_budget_s, eval_every = cfg.eval_every_s;
  const int log_every = cfg.log_every;
  std::unique_ptr<BackgroundEval> evaluator;
  // Rank 0 evaluates; restarted into an allreduce group, it leaves that to whoever took over when
  // it was lost (a parameter-server job's rank 0 evaluates again, the others deferring to it).
  if (job.rank == 0 && !rejoining) {
    torch::manual_seed(seed);
    evaluator = make_evaluator(cfg, ds, log, checkpoints.resumed_f0());
    const logev::Eval first;  // round 0, epoch 0, nothing seen, at the start
    // Least squares measures progress against F0, the first evaluation's loss, which checkpoints
    // carry to a resumed job: it is evaluated now, not left to the idle-priority thread, which a
    // busy host may not run before the first checkpoint.
    if (!std::isnan(ds.f_star) && std::isnan(checkpoints.resumed_f0()))
      evaluator->evaluate_now(fm.flat(), first);
    else
      evaluator->submit(fm.flat(), first);
  }

  const double t0 = mono_s(), t0_unix = unix_s();  // training starts: every wall_s counts from here
  double seen = 0, last_eval = -1e9, step_s = 0;
  Totals tot;
  sync::SyncStats st;
  bool stop = false;
  checkpoints.restore(optim, seen);
  // Both stop rules in one place: this worker's vote goes into a reduction; the decision comes
  // out of it (the consensus, or all workers' samples reaching the target), equal on every rank.
  auto vote = [&] { return budget > 0 && mono_s() - t0 > budget; };
  auto decide = [&](bool consensus, const sync::SyncStats& got) {
    seen += got.total_samples;
    return consensus || seen >= target;
  };
  // Where this worker stands, for the state server's metrics (carried by the heartbeats).
  double reported_at = mono_s(), reported_samples = 0;
  auto report = [&](std::uint64_t round, int k_done, std::int64_t staleness) {
    if (!job.heartbeat) return;
    const double now = mono_s(),
                 rate = (double(tot.samples) - reported_samples) / std::max(1e-9, now - reported_at);
    reported_at = now, reported_samples = double(tot.samples);
    json status = {{"round", round},
                   {"seen", seen},
                   {"samples", tot.samples},
                   {"k_done", k_done},
                   {"step_s", step_s},
                   {"samples_per_s", rate},
                   {"staleness", staleness},
                   {"bytes_sent", tot.sync.bytes_sent},
                   {"bytes_recv", tot.sync.bytes_recv}};
    if (evaluator && evaluator->last_acc() >= 0) status["acc"] = evaluator->last_acc();
    job.heartbeat->report(std::move(status));
  };
  // An evaluation's stamp: where the job stands now.
  auto stamp_at = [&](std::int64_t at_round) {
    logev::Eval e;
    e.round = at_round, e.epoch = seen / double(ds.train.size()), e.samples_seen = seen,
    e.wall_s = mono_s() - t0;
    return e;
  };
  // `agreed`: the last round whose synchronisation this rank completed; `in_sync`: a failure came
  // from one. A regroup returns the round the loop goes on after; a worker of the new group's
  // rank 0 evaluates when no member does (rank 0 was lost).
  std::int64_t agreed = static_cast<std::int64_t>(s.first_round) - 1;
  bool in_sync = false, newcomer = rejoining;
  auto regroup = [&](bool settled, const std::string& why) {
    const Regrouped g =
        recovery.rebuild(s, syncer, sctx, optim,
                         {agreed, seen, optim.steps(), evaluator != nullptr, newcomer}, settled, why, log);
    newcomer = false;
    seen = g.at.seen, agreed = g.at.round;
    stop = !g.established || seen >= target;  // the same on every member
    if (!evaluator && !g.evaluator && g.group_rank == 0) evaluator = make_evaluator(cfg, ds, log);
    if (stop && evaluator && g.established) {  // the round that broke was the last: its model is final
      evaluator->submit(fm.flat(), stamp_at(g.at.round), /*force=*/true);
    }
    return static_cast<std::uint64_t>(g.at.round);
  };
  std::uint64_t round = s.first_round;
  if (rejoining) round = regroup(false, "a restarted worker rejoins") + 1;
  for (; !stop; ++round) try {
      // Model averaging keeps the round's starting weights; the gradient modes read none.
      const int k = syncer->begin_round(
          round, syncer->syncs_gradients() ? stage.weights_out() : stage.weights(), n_all, step_s);
      RoundTotals r;
      st.clear();
      checkpoints.before_sync(round);
      if (job.heartbeat && job.heartbeat->coordinator_lost())
        ESYNC_THROW(TimeoutError, "lost the state server at ", job.client->endpoint(), ": ",
                    job.heartbeat->error());
      while (r.k_done < k) {
        // compute: the whole local step (batch, forward, backward, optimiser), everything but
        // the synchronisation and injected delays, so K_i x c_i really is the round's length.
        const double ts = mono_s();
        const Batch batch = feeder.next();
        fm.zero_grad();
        auto loss = loss_fn(fm.net().forward(batch.x), batch.y, ds.num_classes);
        loss.backward();
        r.samples += double(batch.size);
        double not_compute = 0;
        if (syncer->syncs_gradients()) {
          const double tsync = mono_s();
          float* grad = stage.grads();
          in_sync = true;
          const bool consensus =
              syncer->reduce_gradients(stage.weights_out(), grad, n_params, double(batch.size), vote(), st);
          in_sync = false;
          agreed = static_cast<std::int64_t>(round);
          stop = decide(consensus, st);
          // The parameter server sent the new parameters; an allreduce changed the gradient.
          if (syncer->applies_update())
            stage.upload_weights(n_params);
          else
            stage.upload_grads();
          not_compute = mono_s() - tsync;
        }
        if (!syncer->applies_update()) {
          if (sctx.scaffold) {  // the drift correction works on the host side of the gradient
            syncer->correct_gradient(stage.grads(), n_params);
            stage.upload_grads();
          }
          optim.step(fm.data(), fm.grad_data(), schedule.at(static_cast<std::int64_t>(seen)));
          stage.model_moved();
        }
        kernels::wait(place);  // a GPU's step is queued work: its time is taken when it has run
        const double compute = mono_s() - ts - not_compute;
        // Emulate a device `slowdown` x slower: to the state server that is compute time (the
        // device is slower), to the logs it is injected time, kept apart from real compute.
        const double slept = sleep_s(slow.sleep_for(compute));
        r.slowdown += slept;
        r.device += compute + slept;
        r.compute += compute;
        ++r.k_done;
        ++tot.steps;
        if (tot.steps % log_every == 0)
          log.write(logev::Step{static_cast<std::int64_t>(round), r.k_done, loss.item<double>(),
                                double(tot.samples) + r.samples, compute, slept,
                                schedule.at(static_cast<std::int64_t>(seen))});
        if (stop || syncer->step_done(round, compute + slept)) break;
      }
      if (!syncer->syncs_gradients()) {
        in_sync = true;
        stop = decide(syncer->end_round(stage.weights(), n_all, r.samples, vote(), st), st);
        // With a reduction in flight, the last one completed is the previous round's.
        agreed = static_cast<std::int64_t>(round) - (syncer->global_model() ? 1 : 0);
        // --overlap leaves this round's reduction in flight: it is settled when the job stops (the
        // final model is then the same on every rank) and around checkpoint rounds.
        if (stop || checkpoints.settles(round)) {
          sync::SyncStats last;
          stop = decide(syncer->settle(stage.weights(), n_all, last), last) || stop;
          st.add(last);
          agreed = static_cast<std::int64_t>(round);
        }
        in_sync = false;
        stage.upload_weights();
      }
      step_s = r.step_s(step_s);
      log.write(tot.add(round, syncer->planned_steps(k), r, st));
      report(round, r.k_done, st.staleness);
      checkpoints.after_sync(round, optim, seen, tot.samples, evaluator ? evaluator->f0() : NAN);
      if (evaluator && (stop || mono_s() - last_eval >= eval_every)) {
        // The job's final model: under the asynchronous rules the shards hold it, and rank 0's own
        // copy is as old as its last push (on a busy host, many versions).
        if (stop && s.psc && syncer->syncs_gradients()) {
          s.psc->pull(stage.weights_out());
          stage.upload_weights(n_params);
        }
        last_eval = mono_s();
        const float* global = syncer->global_model();  // copied by submit
        const torch::Tensor model =
            global
                ? torch::from_blob(const_cast<float*>(global), {fm.size()},
                                   sctx.place.is_cuda() ? fm.flat().options() : torch::dtype(torch::kFloat))
                : fm.flat();
        evaluator->submit(model, stamp_at(static_cast<std::int64_t>(round)), /*force=*/stop);
      }
      // A restarted worker waits: every rank saw the vote in the same reduction, and all regroup
      // after this round, with no reduction left in flight.
      if (st.regroup && !stop && recovery.enabled()) {
        sync::SyncStats last;
        in_sync = true;
        stop = decide(syncer->settle(stage.weights(), n_all, last), last);
        in_sync = false;
        tot.sync.add(last);
        stage.upload_weights();
        agreed = static_cast<std::int64_t>(round);
        if (!stop) round = regroup(/*settled=*/true, "a restarted worker rejoins");
      }
    } catch (const Error& e) {
      const bool group_broke =
          dynamic_cast<const PeerLostError*>(&e) || dynamic_cast<const TimeoutError*>(&e);
      if (!in_sync || !group_broke || !recovery.enabled()) throw;
      in_sync = false;
      std::fprintf(stderr, "worker %d: the allreduce group broke in round %llu (%s); re-forming it\n",
                   job.rank, static_cast<unsigned long long>(round), e.what());
      round = regroup(false, e.what());
    }
  // Throughput counts the training loop only: the final evaluation below is not training.
  const double train_wall = mono_s() - t0;
  checkpoints.finish();
  logev::WorkerSummary sum;
  // The model's stamp: the last round the loop ran (it ends one past it), at the end of training.
  finish_job(job, s, log, *syncer, evaluator.get(), stamp_at(static_cast<std::int64_t>(round) - 1), sum);
  sum.rank = job.rank, sum.mode = job.mode, sum.backend = s.backend;
  sum.t0_unix = t0_unix, sum.wall_s = mono_s() - t0;
  tot.fill(sum, train_wall);
  sum.staging = stage.kind(), sum.staging_s = stage.seconds();
  return sum;
}

}  // namespace esync::train
