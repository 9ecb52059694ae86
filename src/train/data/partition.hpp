#pragma once
// Partitioners: split a training set's sample indices among M workers. A worker's shard is an
// index list into the one shared dataset tensor (a view, not a copy of the data).
//   iid       uniform random split into near-equal shards
//   by-class  each worker gets a contiguous block of classes (seed 004's --split-by-class);
//             with more workers than classes, the workers sharing a class split its samples
//   dirichlet label skew: for every class, proportions p ~ Dir(alpha * 1_M) over workers
// Deterministic for a seed; every index appears in exactly one shard.
#include <cstdint>
#include <string>
#include <vector>

namespace esync::train {

using Shards = std::vector<std::vector<std::int64_t>>;

Shards partition(const std::vector<std::int64_t>& labels, std::int64_t num_samples, int workers,
                 const std::string& kind, double alpha, std::uint64_t seed);

}  // namespace esync::train
