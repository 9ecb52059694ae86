#pragma once
// Batches from a worker's shard (an index list into the shared dataset): a fresh permutation of
// the shard every epoch, seeded by (seed, rank, epoch) so runs are reproducible. Every batch is
// full: one that reaches the end of a permutation is completed from the next (the shard's
// epochs flow into each other), so every gradient a worker sends averages the same number of
// samples. With a batch close to the shard's size (seed 000: 256 of 312 rows) a short tail
// batch would otherwise be every other step, with several times the gradient noise.
#include <ATen/CPUGeneratorImpl.h>

#include "train/data/dataset.hpp"

namespace esync::train {

class ShardSampler {
 public:
  ShardSampler(torch::Tensor shard, std::int64_t batch, std::uint64_t seed)
      : shard_(std::move(shard)), batch_(batch), seed_(seed), gen_(at::detail::createCPUGenerator(seed)) {}
  // Indices of the next batch: min(batch, shard size) of them.
  torch::Tensor next() {
    const auto want = std::min(batch_, shard_.size(0));
    std::vector<torch::Tensor> parts;
    for (std::int64_t have = 0; have < want;) {
      if (!perm_.defined() || pos_ >= shard_.size(0)) {
        draw(epoch_++);
        pos_ = 0;
      }
      const auto len = std::min(want - have, shard_.size(0) - pos_);
      parts.push_back(perm_.narrow(0, pos_, len));
      pos_ += len;
      have += len;
    }
    return parts.size() == 1 ? parts[0] : torch::cat(parts);
  }
  std::int64_t epoch() const { return epoch_; }   // permutations drawn so far
  std::int64_t position() const { return pos_; }  // batches taken from the current one, in samples
  // Continues where a sampler with this epoch() and position() stopped (checkpoints): the
  // permutation is a function of (seed, epoch), so it is drawn again, not stored.
  void restore(std::int64_t epoch, std::int64_t position) {
    epoch_ = epoch;
    pos_ = position;
    perm_ = torch::Tensor();
    if (epoch_ > 0) draw(epoch_ - 1);
  }

 private:
  void draw(std::int64_t epoch) {  // epoch's permutation of the shard
    gen_.set_current_seed(seed_ * 1000003u + static_cast<std::uint64_t>(epoch));
    perm_ = shard_.index_select(0, at::randperm(shard_.size(0), gen_));
  }

  torch::Tensor shard_, perm_;
  std::int64_t batch_, pos_ = 0, epoch_ = 0;
  std::uint64_t seed_;
  at::Generator gen_;
};

}  // namespace esync::train
