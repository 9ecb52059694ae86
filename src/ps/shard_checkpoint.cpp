#include "shard_checkpoint.hpp"

#include "esync/error.hpp"
#include "esync/job_checkpoint.hpp"

namespace esync::ps {

ShardState load_shard_checkpoint(const ShardConfig& cfg) {
  const auto ck = Checkpoint::load(cfg.resume_file);
  const auto& meta = ck.meta;
  ESYNC_CHECK_T(IoError,
                meta.value("format", "") == "esync-server" && meta.value("shard", -1) == cfg.shard &&
                    meta.value("shards", -1) == cfg.shards,
                cfg.resume_file, ": not the checkpoint of shard ", cfg.shard, " of ", cfg.shards);
  ckpt::check_same_job(meta.at("config"), cfg.job, cfg.resume_file);
  ShardState st;
  st.total_n = meta.at("n").get<std::size_t>();
  st.samples = meta.at("samples").get<double>();
  const auto& w = ck.tensor("w");
  ESYNC_CHECK_T(IoError, w.size() == shard_range(st.total_n, cfg.shards, cfg.shard).size(), cfg.resume_file,
                ": slice of ", w.size(), " values for a model of ", st.total_n);
  st.rules = std::make_unique<ShardRules>(cfg.rule, w);
  load_optimizer(ck, st.rules->optimizer(), cfg.resume_file);
  st.rules->restore_version(meta.at("version").get<std::uint64_t>());
  return st;
}

Checkpoint shard_checkpoint(const ShardConfig& cfg, ShardRules& rules, const ShardState& at,
                            std::uint64_t round) {
  Checkpoint ck;
  ck.meta = {{"format", "esync-server"}, {"shard", cfg.shard},         {"shards", cfg.shards},
             {"n", at.total_n},          {"version", rules.version()}, {"samples", at.samples},
             {"round", round},           {"config", cfg.job}};
  ck.tensors.emplace_back("w", *rules.weights());
  save_optimizer(ck, rules.optimizer());
  return ck;
}

}  // namespace esync::ps
