#include "train/final_eval.hpp"

#include <cstdio>
#include <set>

#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "train/export.hpp"
#include "train/models/net.hpp"

namespace esync::train {

namespace {
constexpr const char* kEvaluated = "final/evaluated";
}

void announce_final_evaluation(const WorkerJob& job) {
  try {
    job.client->kv_set(kEvaluated, std::to_string(job.rank));
  } catch (const Error&) {  // the state server is gone: the others give up waiting on their own
  }
}

bool takes_over_final_evaluation(const WorkerJob& job) {
  using std::chrono::milliseconds;
  // A lower rank that died is declared lost within the heartbeat timeout (and a beat); one that
  // is not lost by then is alive and evaluates itself.
  const double deadline = mono_s() + job.config.heartbeat_timeout_s + 2 * job.config.heartbeat_interval_s;
  std::set<int> lost;
  int seen = 0;
  try {
    while (mono_s() < deadline) {
      if (job.client->kv_poll(kEvaluated, milliseconds(250), job.timeout)) return false;
      while (const auto r =
                 job.client->kv_poll("lost/" + std::to_string(seen), milliseconds(0), job.timeout)) {
        lost.insert(std::stoi(*r));
        ++seen;
      }
      bool lower_all_lost = true;
      for (int q = 0; q < job.rank && lower_all_lost; ++q) lower_all_lost = lost.count(q) > 0;
      if (lower_all_lost) return true;
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "worker %d: cannot learn who evaluates the final model: %s\n", job.rank, e.what());
    return false;
  }
  return false;
}

std::unique_ptr<BackgroundEval> make_evaluator(const JobConfig& cfg, const Dataset& ds, JsonlLog& log,
                                               double f0) {
  return std::make_unique<BackgroundEval>(make_model(cfg.model, ds.sample_shape, ds.num_classes), ds.test,
                                          ds.num_classes, log, ds.f_star, f0);
}

void finish_job(const WorkerJob& job, WorkerSetup& s, JsonlLog& log, sync::Synchronizer& syncer,
                BackgroundEval* evaluator, const logev::Eval& stamp, logev::WorkerSummary& sum) {
  const JobConfig& cfg = job.config;
  FlatModel& fm = *s.fm;
  SyncStaging& stage = *s.stage;
  // A parameter-server job that survives lost workers survives rank 0, its evaluator: the others
  // keep the final model (pulled before they leave) in case they have to evaluate it.
  torch::Tensor final_model;
  const bool may_take_over = !evaluator && s.psc && cfg.on_failure == "continue" && job.client;
  if (may_take_over) {
    if (syncer.syncs_gradients()) {
      s.psc->pull(stage.weights_out());
      stage.upload_weights(static_cast<std::size_t>(fm.num_params()));
    }
    final_model = fm.flat().to(torch::kCPU, torch::kFloat32, /*non_blocking=*/false, /*copy=*/true);
  }
  // This worker's part of the job is over: leave the parameter server before rank 0's last
  // evaluations, so the shards end with the others instead of waiting out their silence timeout.
  if (s.psc) s.psc->leave("ok");
  if (evaluator) {
    if (const auto last = evaluator->finish()) sum.final = *last;
    if (s.psc) announce_final_evaluation(job);
  } else if (may_take_over && takes_over_final_evaluation(job)) {
    std::fprintf(stderr, "worker %d: every lower rank was lost; evaluating the final model\n", job.rank);
    const auto takeover = make_evaluator(cfg, s.ds, log);
    takeover->evaluate_now(final_model, stamp);
    if (const auto last = takeover->finish()) sum.final = *last;
  }
  // Whoever evaluated the final model writes it for PyTorch; fm holds it (settled, or pulled
  // from the shards). The job's result stands if the file cannot be written: that is said.
  if (!sum.final.empty() && !cfg.log_dir.empty()) {
    const std::string path = cfg.log_dir + "/model.pt";
    try {
      save_for_pytorch(fm.net(), path);
      sum.model = path;
    } catch (const Error& e) {
      std::fprintf(stderr, "worker %d: the final model was not written: %s\n", job.rank, e.what());
    }
  }
}

}  // namespace esync::train
