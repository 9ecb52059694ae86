#include "train/worker_checkpoint.hpp"

#include <cmath>
#include <filesystem>

#include "esync/error.hpp"
#include "esync/modes.hpp"

namespace esync::train {

using nlohmann::json;

void resume_worker(const WorkerJob& job, WorkerSetup& s) {
  const json& resume = job.config.resume;
  if (!resume.is_object()) return;
  const std::string dir = resume.at("dir").get<std::string>();
  const auto round = resume.at("round").get<std::uint64_t>();
  s.resuming = true;
  s.first_round = round;
  const std::string file = ckpt::worker_file(dir, round, job.rank);
  // A worker without a file (it joined later, or was lost before this round) starts from the
  // global model the others hold, with a fresh optimiser.
  if (job.rank >= job.world || !std::filesystem::exists(file)) return;
  Checkpoint ck = Checkpoint::load(file);
  ESYNC_CHECK_T(IoError,
                ck.meta.value("format", "") == "esync-worker" && ck.meta.value("rank", -1) == job.rank, file,
                ": not the checkpoint of worker ", job.rank);
  ckpt::check_same_job(ck.meta.at("config"), json(job.config), file);
  FlatModel& fm = *s.fm;
  const auto& flat = ck.tensor("flat");
  ESYNC_CHECK_T(IoError, static_cast<std::int64_t>(flat.size()) == fm.size(), file, ": ", flat.size(),
                " values but the model has ", fm.size());
  fm.load(flat);
  s.sampler->restore(ck.meta.at("sampler_epoch").get<std::int64_t>(),
                     ck.meta.at("sampler_pos").get<std::int64_t>());
  s.resumed = std::move(ck);
}

WorkerCheckpoints::WorkerCheckpoints(const WorkerJob& job, WorkerSetup& s)
    : job_(job), s_(s), writer_("worker-" + std::to_string(job.rank) + ".ckpt") {
  every_ = job.config.checkpoint_every;
  dir_ = job.config.checkpoint_dir;
  // Joiners write nothing: a resumed job starts with its first workers, and joiners join again.
  writes_ = job.rank == 0 || (job.rank < job.world && find_mode(job.mode).synchronous());
  ESYNC_CHECK_T(ConfigError, every_ == 0 || !dir_.empty(),
                "checkpoint_every needs a checkpoint_dir in the job");
}

void WorkerCheckpoints::restore(FlatOptimizer& optim, double& seen) const {
  if (!s_.resumed) return;
  const auto& ck = *s_.resumed;
  load_optimizer(ck, optim, "worker " + std::to_string(job_.rank) + " checkpoint");
  // Over the parameter server the samples seen come from the shards (they resumed their count);
  // an allreduce group's count is its own.
  if (!s_.psc) seen = ck.meta.value("seen", 0.0);
}

void WorkerCheckpoints::before_sync(std::uint64_t round) {
  if (due(round) && job_.rank == 0 && s_.psc) s_.psc->request_checkpoint(round + 1);
}

double WorkerCheckpoints::resumed_f0() const {
  if (!s_.resumed) return NAN;
  const auto f0 = s_.resumed->meta.value("f0", json());
  return f0.is_number() ? f0.get<double>() : NAN;
}

void WorkerCheckpoints::after_sync(std::uint64_t round, FlatOptimizer& optim, double seen,
                                   std::int64_t samples, double f0) {
  if (!due(round)) return;
  Checkpoint ck;
  ck.meta = {{"format", "esync-worker"},
             {"rank", job_.rank},
             {"round", round + 1},
             {"seen", seen},
             {"samples", samples},
             {"sampler_epoch", s_.sampler->epoch()},
             {"sampler_pos", s_.sampler->position()},
             {"config", job_.config}};
  if (!std::isnan(f0)) ck.meta["f0"] = f0;
  ck.tensors.emplace_back("flat", s_.fm->to_host());
  save_optimizer(ck, optim);
  // Copied above; the file is written on the writer's thread while the next round runs.
  writer_.submit(dir_, round + 1, std::move(ck));
}

}  // namespace esync::train
