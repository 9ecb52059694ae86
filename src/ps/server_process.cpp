// `esync server --shard I`: the shard as a process of a job. Everything it needs (mode and its
// flags, optimiser, worker count, shard count) comes from the coordinator's job configuration.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "esync/coord_client.hpp"
#include "esync/error.hpp"
#include "esync/job_checkpoint.hpp"
#include "esync/message.hpp"
#include "esync/modes.hpp"
#include "esync/ps_rules.hpp"
#include "esync/ps_server.hpp"

namespace esync::ps {

namespace {
std::string this_host() {
  char buf[256] = {};
  return ::gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string("?");
}
}  // namespace

RuleConfig rule_config(const JobConfig& job, int workers) {
  RuleConfig rc;
  rc.rule = find_mode(job.mode).server_rule({job.delay_adaptive, job.async_cached, job.dc_adaptive});
  // An elastic job's shards hold a slot for every rank that may join; the first `workers` are
  // live from the start.
  rc.workers = job.capacity(workers);
  rc.live_at_start = workers;
  rc.opt = optimizer_config(job, job.lr);
  rc.global_lr = static_cast<float>(job.global_lr);
  rc.weighting = parse_weighting(job.weighting);
  rc.dc_lambda = static_cast<float>(job.dc_lambda >= 0 ? job.dc_lambda : default_dc_lambda(job.dc_adaptive));
  return rc;
}

int run_server(const ServerOptions& opt, const std::atomic<bool>& stop) {
  const auto timeout = std::chrono::milliseconds(static_cast<long>(opt.timeout_s * 1000));
  coord::CoordinatorClient client(opt.coordinator, opt.token, timeout, opt.curve);
  const auto welcome = client.register_server(opt.shard, this_host());
  const auto job = welcome.job.get<JobConfig>();
  ShardConfig cfg;
  cfg.shard = opt.shard;
  cfg.shards = std::max(1, job.servers);
  cfg.bind = opt.bind;
  cfg.rule = rule_config(job, welcome.world);
  cfg.token = opt.token;
  cfg.job_id = client.job_id();
  cfg.timeout = timeout;
  cfg.log_dir = job.log_dir;
  cfg.abort_on_failure = job.on_failure == "abort";
  cfg.curve = opt.curve;
  cfg.job = job;
  if (job.checkpoint_every > 0) cfg.checkpoint_dir = job.checkpoint_dir;
  if (const auto& resume = job.resume; resume.is_object())
    cfg.resume_file = ckpt::server_file(resume.at("dir").get<std::string>(),
                                        resume.at("round").get<std::uint64_t>(), opt.shard);
  // Rank 0 publishes the length of the buffer the shards hold once it has built the model; a
  // frame may be at most this shard's slice of it (or a body's size).
  // It publishes how many of them are parameters too: the BatchNorm buffers after them are
  // averaged plainly (sync-delta).
  const auto size_of = [&](const char* key) {
    const std::string value = client.kv_get(key, timeout);
    try {
      return static_cast<std::size_t>(std::stoull(value));
    } catch (const std::logic_error&) {
      ESYNC_THROW(ProtocolError, key, " '", value, "' from the coordinator is not a size");
    }
  };
  const auto range = shard_range(size_of("model/floats"), cfg.shards, cfg.shard);
  cfg.max_frame_bytes = static_cast<std::int64_t>(
      std::max<std::size_t>(range.size() * sizeof(float), wire::Limits{}.max_body_bytes) + 4096);
  const std::size_t params = size_of("model/params");
  // The rate's schedule counts the job's samples in epochs of the training set rank 0 loaded.
  if (job.lr_schedule != "none" || job.warmup_epochs > 0)
    cfg.rule.schedule = lr_schedule(job, job.lr, static_cast<std::int64_t>(size_of("data/train")));
  cfg.rule.buffers_from = params > range.lo ? params - range.lo : 0;
  ShardServer server(cfg);
  client.kv_set("ps/" + std::to_string(opt.shard), server.endpoint());
  std::printf("server-%d: %s, rule %s, %d workers\n", opt.shard, server.endpoint().c_str(),
              cfg.rule.rule.c_str(), cfg.rule.workers);
  std::fflush(stdout);
  // The state server hears every worker's heartbeat; a worker it declares lost is dropped here at
  // once, not after a whole round's wait timeout (which must be long: a slow device may hold a
  // round that long). This thread is the client's only user while the shard serves; each poll
  // ends within 1.5 s, so the shard's exit never waits longer for it. An unanswered poll is
  // asked again (a late answer is recognised by its id); the shard keeps its own timeouts.
  std::atomic<bool> served{false};
  std::thread watch([&] {
    for (int n = 0; !served.load() && !stop.load();) {
      try {
        const auto rank = client.kv_poll("lost/" + std::to_string(n), std::chrono::milliseconds(500),
                                         std::chrono::milliseconds(1000));
        if (!rank) continue;
        server.worker_lost(std::stoi(*rank));
        ++n;
      } catch (const TimeoutError&) {    // a busy or a lost state server: ask again
      } catch (const std::exception&) {  // a garbled answer: nothing more to learn from it
        return;
      }
    }
  });
  try {
    server.run(stop);
  } catch (...) {
    served = true;
    watch.join();
    throw;
  }
  served = true;
  watch.join();
  const auto s = server.stats();
  std::printf(
      "server-%d done: version %llu, %llu pushes, %llu malformed, %llu rejected, %llu workers dropped\n",
      opt.shard, static_cast<unsigned long long>(s.version), static_cast<unsigned long long>(s.pushes),
      static_cast<unsigned long long>(s.malformed), static_cast<unsigned long long>(s.rejected),
      static_cast<unsigned long long>(s.lost));
  // Told to stop, the shard goes at once: the launcher stops the state server at the same moment,
  // and a goodbye to it would wait out the client's timeout.
  if (!stop.load()) {
    try {
      client.goodbye("ok");
    } catch (const Error&) {  // the coordinator may be gone once the workers are: not our failure
    }
  }
  return stop.load() ? 130 : 0;
}

}  // namespace esync::ps
