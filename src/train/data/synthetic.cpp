// Synthetic classification data of any shape (benchmarks, tests, CIFAR-sized input when no
// CIFAR files are at hand): x ~ N(0, 1), labels from a fixed random linear map so the task is
// learnable, not noise.
#include <ATen/CPUGeneratorImpl.h>

#include "train/data/dataset.hpp"

namespace esync::train {

Dataset make_synthetic(std::vector<std::int64_t> shape, std::int64_t n, std::int64_t classes,
                       std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<std::int64_t> full = {n};
  full.insert(full.end(), shape.begin(), shape.end());
  auto make_split = [&](std::int64_t count, const torch::Tensor& proj) {
    full[0] = count;
    auto x = at::randn(full, gen);
    auto y = x.reshape({count, -1}).mm(proj).argmax(1);
    return Split{x, y};
  };
  std::int64_t features = 1;
  for (auto s : shape) features *= s;
  const auto proj = at::randn({features, classes}, gen);
  Dataset ds;
  ds.name = "synthetic";
  ds.num_classes = classes;
  ds.sample_shape = shape;
  ds.train = make_split(n, proj);
  ds.test = make_split(std::max<std::int64_t>(n / 6, 1), proj);
  return ds;
}

}  // namespace esync::train
