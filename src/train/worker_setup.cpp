// A worker's data, model and transport (worker_parts.hpp).
#include <ATen/Parallel.h>

#include "esync/clock.hpp"
#include "esync/coord_store.hpp"
#include "esync/error.hpp"
#include "esync/modes.hpp"
#include "esync/synchronizer.hpp"
#include "train/data/partition.hpp"
#include "train/device.hpp"
#include "train/models/net.hpp"
#include "train/worker_checkpoint.hpp"
#include "train/worker_parts.hpp"

namespace esync::train {

namespace {

// The allreduce backend. The launcher resolves "auto" when it knows every device (esync run);
// a worker that still sees "auto" (a hand-started coordinator) asks its peers: every rank
// publishes its host and device and reads all of them, so all ranks take the same decision.
std::string agree_on_backend(const WorkerJob& job) {
  const std::string want = job.config.backend;
  if (want != "auto") return want;
  job.client->kv_set("device/" + std::to_string(job.rank), job.bind_host + "/" + job.device);
  std::vector<std::string> devices;
  for (int r = 0; r < job.world; ++r)
    devices.push_back(job.client->kv_get("device/" + std::to_string(r), job.timeout));
  return comm::resolve_backend(want, devices);
}

void connect_ps(const WorkerJob& job, WorkerSetup& s) {
  FlatModel& fm = *s.fm;
  // Gradient modes push the parameters' gradients only; model-averaging modes the whole buffer
  // (BatchNorm statistics are averaged with the weights). The shards wait for this length to
  // bound the frames they accept.
  const auto n =
      static_cast<std::size_t>(find_mode(job.mode).syncs_gradients() ? fm.num_params() : fm.size());
  if (job.rank == 0) {
    job.client->kv_set("model/floats", std::to_string(n));
    job.client->kv_set("model/params", std::to_string(fm.num_params()));
  }
  std::vector<std::string> endpoints;
  for (int i = 0; i < job.config.servers; ++i)
    endpoints.push_back(job.client->kv_get("ps/" + std::to_string(i), job.timeout));
  s.psc =
      std::make_unique<ps::PsClient>(endpoints, job.token, job.rank, job.client->job_id(), n, job.timeout);
  // A resumed job's shards start from their own checkpoints, not from rank 0's weights.
  SyncStaging& stage = *s.stage;
  if (job.rank == 0 && !s.resuming) s.psc->init(stage.weights());
  if (job.rank < job.world && !job.rejoin_generation) {
    s.psc->pull(stage.weights_out());
    stage.upload_weights(n);
    return;
  }
  // A worker joining a running job (or a restarted one rejoining it): live from the next round on
  // every shard, holding its weights. The synchronous rules count one version per round, so its round numbers
  // continue the job's (the state server's poll rule refuses a round that has gone by).
  const auto r = s.psc->join(stage.weights_out());
  stage.upload_weights(n);
  s.joined = r.version;
  if (find_mode(job.mode).synchronous()) s.first_round = r.version;
}

void connect_collective(const WorkerJob& job, WorkerSetup& s) {
  comm::CollectiveOptions copt;
  copt.backend = s.backend;
  copt.device = std::max(0, s.fm->place().cuda_device);  // NCCL: this rank's GPU
  // A restarted worker meets the group when the training loop regroups with it (regroup.hpp),
  // and shares the time origin rank 0 published.
  if (job.rejoin_generation) {
    sync::set_time_base(std::stod(job.client->kv_get("time/base", job.timeout)));
    return;
  }
  copt.rank = job.rank;
  copt.size = job.world;
  copt.bind_host = job.bind_host;
  copt.timeout = job.timeout;
  s.coll = comm::make_collective(copt, std::make_shared<coord::CoordStore>(job.client));
  FlatModel& fm = *s.fm;
  s.coll->broadcast(s.stage->weights(), static_cast<std::size_t>(fm.size()), 0);
  s.stage->upload_weights();
  // One time origin for everyone's arrival stamps, rank 0's, through the state server (an NCCL
  // group broadcasts GPU memory only). A float, as the stamps travel: the same value everywhere.
  if (job.rank == 0) job.client->kv_set("time/base", std::to_string(static_cast<float>(unix_s())));
  sync::set_time_base(std::stod(job.client->kv_get("time/base", job.timeout)));
}

}  // namespace

void setup_worker(const WorkerJob& job, WorkerSetup& s) {
  const auto& cfg = job.config;
  DataOptions dopt;
  dopt.name = cfg.dataset;
  dopt.dir = cfg.data_dir;
  dopt.ls_matrix = cfg.ls_matrix;
  dopt.num_classes = cfg.num_classes;
  dopt.seed = cfg.seed;
  s.ds = load_dataset(dopt);
  // An epoch's samples: the shards' rate schedule and the state server's progress count in them.
  if (job.rank == 0) job.client->kv_set("data/train", std::to_string(s.ds.train.size()));
  std::vector<std::int64_t> labels;
  if (s.ds.num_classes > 0) {
    const auto* y = s.ds.train.y.data_ptr<std::int64_t>();
    labels.assign(y, y + s.ds.train.size());
  }
  // A fixed group splits the training set; in an elastic job (workers may join) the number of
  // parts is not known, so every worker draws from all of it, in its own order.
  const bool elastic = cfg.capacity(job.world) > job.world;
  const auto shards = partition(labels, s.ds.train.size(), elastic ? 1 : job.world, cfg.partition,
                                cfg.dirichlet_alpha, dopt.seed);
  s.sampler.emplace(torch::tensor(shards[elastic ? 0 : static_cast<std::size_t>(job.rank)], torch::kInt64),
                    cfg.batch_of(job.rank), dopt.seed + 7919u * static_cast<std::uint64_t>(job.rank + 1));
  torch::manual_seed(dopt.seed);
  // Made on the CPU with the job's seed (the same initial weights whatever the device), then
  // moved to the worker's device, where it stays.
  auto net = make_model(cfg.model, s.ds.sample_shape, s.ds.num_classes);
  net->to(torch_device(job.device));
  const auto spare = sync::control_slots(job.world);
  s.fm.emplace(net, static_cast<std::int64_t>(spare));
  // The transport decides where the synchroniser works: NCCL on the GPU, the others on the host.
  s.backend = cfg.servers > 0 ? "ps" : agree_on_backend(job);
  s.stage.emplace(*s.fm, spare, staging_copies(*s.fm, s.backend));
  resume_worker(job, s);
  // The parameter server when the job has shards, else an allreduce group; either way every
  // rank starts from rank 0's initial weights.
  if (cfg.servers > 0)
    connect_ps(job, s);
  else
    connect_collective(job, s);
}

}  // namespace esync::train
