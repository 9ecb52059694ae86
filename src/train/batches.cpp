#include "train/batches.hpp"

namespace esync::train {

BatchFeeder::BatchFeeder(const Split& split, std::function<torch::Tensor()> next_indices,
                         torch::Device device)
    : split_(split), next_indices_(std::move(next_indices)), device_(device) {}

Batch BatchFeeder::load() {
  const auto idx = next_indices_();
  Batch b{split_.inputs(idx), split_.y.index_select(0, idx), idx.size(0)};
  if (device_.is_cpu()) return b;
  // Page-locked, so the copy is a DMA queued behind the work already on the stream.
  b.x = b.x.pin_memory().to(device_, /*non_blocking=*/true);
  b.y = b.y.pin_memory().to(device_, /*non_blocking=*/true);
  return b;
}

Batch BatchFeeder::next() {
  if (device_.is_cpu()) return load();
  if (!ahead_) ahead_ = load();
  Batch b = std::move(*ahead_);
  ahead_ = load();
  return b;
}

}  // namespace esync::train
