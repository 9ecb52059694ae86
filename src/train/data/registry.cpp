// load_dataset: the one place that maps a dataset name to its reader and default location.
#include <filesystem>

#include "esync/error.hpp"
#include "train/data/dataset.hpp"

namespace esync::train {

void normalise_images(Dataset& ds) {
  // Mean and std of the training pixels scaled to [0, 1], accumulated in double over chunks so
  // no float copy of the whole set is ever made.
  const auto c = ds.train.x.size(1);
  auto sum = torch::zeros({c}, torch::kDouble), sq = torch::zeros({c}, torch::kDouble);
  const std::int64_t n = ds.train.size(), chunk = 4096;
  for (std::int64_t i = 0; i < n; i += chunk) {
    const auto part = ds.train.x.narrow(0, i, std::min(chunk, n - i)).to(torch::kDouble).div_(255.0);
    sum += part.sum({0, 2, 3});
    sq += part.pow(2).sum({0, 2, 3});
  }
  const double count = double(n) * double(ds.train.x.size(2)) * double(ds.train.x.size(3));
  const auto mean = sum / count;
  const auto std = (sq / count - mean * mean).clamp_min(1e-12).sqrt();
  // x_norm = (x/255 - mean) / std = (x - 255 mean) * (1 / (255 std)), applied per batch.
  for (Split* s : {&ds.train, &ds.test}) {
    s->mean = (mean * 255.0).to(torch::kFloat32).view({1, c, 1, 1});
    s->inv_std = (1.0 / (std * 255.0)).to(torch::kFloat32).view({1, c, 1, 1});
  }
}

static std::string in_dir(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

Dataset load_dataset(const DataOptions& opt) {
  Dataset ds;
  if (opt.name == "fashion-mnist" || opt.name == "mnist") {
    const std::string dir = !opt.dir.empty() ? opt.dir : "/usr/share/datasets/" + opt.name;
    ds.train =
        read_idx_pair(in_dir(dir, "train-images-idx3-ubyte.gz"), in_dir(dir, "train-labels-idx1-ubyte.gz"));
    ds.test =
        read_idx_pair(in_dir(dir, "t10k-images-idx3-ubyte.gz"), in_dir(dir, "t10k-labels-idx1-ubyte.gz"));
    ds.num_classes = 10;
  } else if (opt.name == "cifar10") {
    ESYNC_CHECK_T(ConfigError, !opt.dir.empty(),
                  "cifar10 needs --data-dir with data_batch_1.bin .. data_batch_5.bin and test_batch.bin");
    std::vector<std::string> train_files;
    for (int i = 1; i <= 5; ++i)
      train_files.push_back(in_dir(opt.dir, "data_batch_" + std::to_string(i) + ".bin"));
    ds.train = read_cifar_batches(train_files);
    ds.test = read_cifar_batches({in_dir(opt.dir, "test_batch.bin")});
    ds.num_classes = 10;
  } else if (opt.name == "least-squares") {
    return make_least_squares(opt.ls_n, opt.ls_d, opt.ls_matrix, opt.seed);
  } else if (opt.name == "synthetic") {
    return make_synthetic(opt.synthetic_shape, opt.synthetic_n, 10, opt.seed);
  } else if (opt.name == "tensors") {
    return read_tensor_files(opt);
  } else {
    ESYNC_THROW(ConfigError, "unknown dataset '", opt.name,
                "' (expected fashion-mnist, mnist, cifar10, least-squares, synthetic or tensors)");
  }
  ds.name = opt.name;
  ds.sample_shape = {ds.train.x.size(1), ds.train.x.size(2), ds.train.x.size(3)};
  normalise_images(ds);
  return ds;
}

}  // namespace esync::train
