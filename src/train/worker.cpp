// esync worker: one device process of a distributed job. Registers with the state server, takes
// the job configuration from it, sets up its data, model and transport (worker_setup.cpp), runs
// the training loop (worker_loop.cpp), and reports how it ended: to its log, to the state
// server, and as the exception or summary it returns.
#include <unistd.h>

#include <thread>

#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "esync/heartbeat.hpp"
#include "esync/message.hpp"
#include "esync/train_config.hpp"
#include "train/device.hpp"
#include "train/local_state.hpp"
#include "train/threads.hpp"
#include "train/worker_parts.hpp"

namespace esync::train {

using nlohmann::json;

namespace {
// The coordinator publishes "lost" (rank, host, silence) in its key-value store when it
// declares a worker lost; wait a little longer than its heartbeat timeout for that, asking in
// short turns so a coordinator that is itself gone (our heartbeat says so) ends the wait at once.
std::string lost_workers(coord::CoordinatorClient& client, const coord::Heartbeat& heartbeat,
                         double heartbeat_timeout_s) {
  const double deadline = mono_s() + heartbeat_timeout_s + 2.0;
  std::string last = "nothing";
  while (mono_s() < deadline && !heartbeat.coordinator_lost()) {
    try {
      return "lost: " + client.kv_get("lost", std::chrono::milliseconds(500), std::chrono::milliseconds(500));
    } catch (const Error& e) {
      last = e.what();
    }
  }
  if (heartbeat.coordinator_lost()) return "the state server is gone too: " + heartbeat.error();
  return "the state server named no lost worker (" + last + ")";
}

// A restarted worker's rank is taken until the state server declares its previous process lost
// (the heartbeat timeout): it asks again every half second until then.
coord::Welcome register_worker(coord::CoordinatorClient& client, const WorkerOptions& opt) {
  const double deadline = mono_s() + opt.timeout_s;
  for (;;) {
    try {
      return client.register_worker(opt.device, host_name(), opt.rank);
    } catch (const ConfigError& e) {
      const bool held = std::string(e.what()).find("is taken") != std::string::npos;
      if (!opt.rejoin || opt.rank < 0 || !held || mono_s() > deadline) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

void say_goodbye(coord::CoordinatorClient& client, const std::string& status) {
  try {
    client.goodbye(status);
  } catch (...) {  // the coordinator may be the one that is gone
  }
}
}  // namespace

nlohmann::json run_worker(const WorkerOptions& opt) {
  require_trainable_device(opt.device, "--device");  // before the job counts on this worker
  WorkerJob job;
  job.timeout = std::chrono::milliseconds(static_cast<long>(opt.timeout_s * 1000));
  job.client = std::make_shared<coord::CoordinatorClient>(opt.coordinator, opt.token, job.timeout);
  const auto welcome = register_worker(*job.client, opt);
  job.config = welcome.job.get<JobConfig>();
  job.rank = welcome.rank;
  job.world = welcome.world;
  ESYNC_CHECK_T(ConfigError, opt.world < 0 || opt.world == job.world,
                "this worker was started for a world of ", opt.world,
                " (WORLD_SIZE / SLURM_NTASKS) but the job at ", opt.coordinator, " has ", job.world,
                " workers");
  job.mode = job.config.mode;
  job.device = opt.device;
  job.policy = welcome.policy;
  job.rejoin_generation = welcome.rejoin_generation;
  job.token = opt.token;
  // Peers reach us on the network that reaches the coordinator, unless --bind says otherwise.
  job.bind_host = opt.bind.empty() ? wire::local_address_towards(job.client->endpoint()) : opt.bind;
  // Heartbeats every interval; one unanswered for the heartbeat timeout means the coordinator
  // is gone, and the training loop stops with that message (heartbeat.hpp).
  const auto seconds = [](double s) { return std::chrono::milliseconds(static_cast<long>(s * 1000)); };
  coord::Heartbeat heartbeat(opt.coordinator, opt.token, job.rank, job.client->job_id(),
                             seconds(job.config.heartbeat_interval_s),
                             seconds(job.config.heartbeat_timeout_s));
  job.heartbeat = &heartbeat;
  set_compute_threads(job.config.threads_of(job.rank));

  // A rejoining worker continues its previous process's log.
  JsonlLog log(job.config.log_dir, "worker", job.rank, /*append=*/job.rejoin_generation.has_value());
  log.write(logev::WorkerStart{job.rank, job.world, host_name(), opt.device, job.mode, job.bind_host,
                               job.config.batch_of(job.rank), job.config.threads_of(job.rank), job.config,
                               static_cast<std::int64_t>(::getpid())});
  try {
    logev::WorkerSummary summary;
    {
      WorkerSetup setup;  // its transport is closed when this block is left, before any handler runs
      setup_worker(job, setup);
      if (setup.joined)
        log.write(logev::WorkerJoin{job.rank, static_cast<std::int64_t>(*setup.joined),
                                    static_cast<std::int64_t>(setup.first_round)});
      summary = train_loop(job, setup, log);  // leaves the parameter server itself
    }
    log.write(logev::WorkerEnd{"ok", summary, ""});
    job.client->goodbye("ok");
    return summary;
  } catch (const PeerLostError& e) {
    // Our side is closed already (peers blocked on us fail at once instead of at their
    // timeout); ask the state server who is gone (it declares a silent worker lost after its
    // heartbeat timeout) and say so.
    const std::string why =
        std::string(e.what()) + "; " + lost_workers(*job.client, heartbeat, job.config.heartbeat_timeout_s);
    log.write(logev::ErrorEnd{"error", why});
    say_goodbye(*job.client, "error: " + why);
    ESYNC_THROW(PeerLostError, why);
  } catch (const std::exception& e) {
    log.write(logev::ErrorEnd{"error", e.what()});
    if (!heartbeat.coordinator_lost()) say_goodbye(*job.client, std::string("error: ") + e.what());
    throw;
  }
}

}  // namespace esync::train
