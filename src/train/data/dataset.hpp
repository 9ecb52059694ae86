#pragma once
// Datasets as in-memory tensors. Images stay uint8 [N, C, H, W] (a quarter of the memory of
// float, which matters with several worker processes on one host) and are standardised per
// channel, with the training split's mean and std, as each batch is drawn. Regression (least
// squares): x float [N, d], y float [N]. Workers see their shard as an index list into these
// tensors, never a copy.
#include <torch/torch.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "esync/train_config.hpp"

namespace esync::train {

struct Split {
  torch::Tensor x, y;
  torch::Tensor mean, inv_std;  // [1, C, 1, 1]; undefined: x is used as it is
  std::int64_t size() const { return x.defined() ? x.size(0) : 0; }
  // Float model inputs for the samples idx (int64), or for rows [start, start + len).
  torch::Tensor inputs(const torch::Tensor& idx) const { return prepare(x.index_select(0, idx)); }
  torch::Tensor inputs(std::int64_t start, std::int64_t len) const {
    return prepare(x.narrow(0, start, len));
  }
  torch::Tensor prepare(const torch::Tensor& raw) const {
    return mean.defined() ? raw.to(torch::kFloat32).sub_(mean).mul_(inv_std) : raw;
  }
};

struct Dataset {
  std::string name;
  Split train, test;
  std::int64_t num_classes = 0;            // 0: regression
  std::vector<std::int64_t> sample_shape;  // e.g. {1, 28, 28} or {400}
  // Least squares only: the optimum F* of the training objective and F at x = 0.
  double f_star = std::numeric_limits<double>::quiet_NaN();
};

Dataset load_dataset(const DataOptions& opt);

// Readers (each throws IoError naming the file and the defect).
std::string read_gzip_file(const std::string& path);                 // plain files pass through unchanged
torch::Tensor read_idx(const std::string& path, int expected_dims);  // uint8, shape from header
Split read_idx_pair(const std::string& images, const std::string& labels);
Split read_cifar_batches(const std::vector<std::string>& files);
Dataset read_tensor_files(const DataOptions& opt);  // --dataset tensors (tensor_files.cpp)
Dataset make_least_squares(std::int64_t n, std::int64_t d, const std::string& matrix, std::uint64_t seed);
Dataset make_synthetic(std::vector<std::int64_t> shape, std::int64_t n, std::int64_t classes,
                       std::uint64_t seed);

// Per-channel standardisation statistics of the training split, set on both splits.
void normalise_images(Dataset& ds);

}  // namespace esync::train
