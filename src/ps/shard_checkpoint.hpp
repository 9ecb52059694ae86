#pragma once
// A shard's checkpoint (esync/job_checkpoint.hpp): its slice of the model, the server-side
// optimiser's state, its version and the samples pushed, with the job configuration. Per-worker
// buffers are not kept: DC-ASGD's backups are taken again at each worker's first pull, and
// async-cached's cache refills with each worker's next push.
#include <cstdint>
#include <memory>

#include "esync/checkpoint.hpp"
#include "esync/ps_rules.hpp"
#include "esync/ps_server.hpp"

namespace esync::ps {

struct ShardState {
  std::unique_ptr<ShardRules> rules;
  std::size_t total_n = 0;  // the whole model's length
  double samples = 0;
};

// The state in cfg.resume_file, checked against cfg (shard, shard count, job settings).
ShardState load_shard_checkpoint(const ShardConfig& cfg);
Checkpoint shard_checkpoint(const ShardConfig& cfg, ShardRules& rules, const ShardState& at,
                            std::uint64_t round);

}  // namespace esync::ps
