#pragma once
// Batches from a worker's shard (an index list into the shared dataset): a fresh permutation of
// the shard every epoch, seeded by (seed, rank, epoch) so runs are reproducible.
#include <ATen/CPUGeneratorImpl.h>

#include "train/data/dataset.hpp"

namespace esync::train {

class ShardSampler {
 public:
  ShardSampler(torch::Tensor shard, std::int64_t batch, std::uint64_t seed)
      : shard_(std::move(shard)), batch_(batch), seed_(seed), gen_(at::detail::createCPUGenerator(seed)) {}
  // Indices of the next batch (the last batch of an epoch may be shorter).
  torch::Tensor next() {
    if (!perm_.defined() || pos_ >= shard_.size(0)) {
      gen_.set_current_seed(seed_ * 1000003u + static_cast<std::uint64_t>(epoch_++));
      perm_ = shard_.index_select(0, at::randperm(shard_.size(0), gen_));
      pos_ = 0;
    }
    const auto len = std::min(batch_, shard_.size(0) - pos_);
    auto idx = perm_.narrow(0, pos_, len);
    pos_ += len;
    return idx;
  }
  std::int64_t epoch() const { return epoch_; }

 private:
  torch::Tensor shard_, perm_;
  std::int64_t batch_, pos_ = 0, epoch_ = 0;
  std::uint64_t seed_;
  at::Generator gen_;
};

}  // namespace esync::train
