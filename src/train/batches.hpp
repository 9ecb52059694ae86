#pragma once
// Training batches on the model's device. On a CPU a batch is the host tensors themselves. A GPU
// is kept fed: the batch after the one handed out is gathered on the host into page-locked
// memory and its copy queued on the GPU's stream at once, so the host's gather overlaps the
// GPU's step and a step never waits for a synchronous copy.
#include <functional>
#include <optional>

#include "train/data/dataset.hpp"

namespace esync::train {

struct Batch {
  torch::Tensor x, y;
  std::int64_t size = 0;
};

class BatchFeeder {
 public:
  // next_indices: the sample indices (int64) of each batch in turn.
  BatchFeeder(const Split& split, std::function<torch::Tensor()> next_indices, torch::Device device);
  Batch next();

 private:
  Batch load();
  const Split& split_;
  std::function<torch::Tensor()> next_indices_;
  torch::Device device_;
  std::optional<Batch> ahead_;
};

}  // namespace esync::train
