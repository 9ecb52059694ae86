#pragma once
// The model interface every trainer uses. Parameters and floating-point buffers are reported
// in a fixed order so FlatModel can lay them out in one contiguous buffer.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace esync::train {

struct Net : torch::nn::Module {
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  virtual std::vector<torch::Tensor> flat_params() { return parameters(); }
  // Floating-point buffers only (BatchNorm running mean/var); integer counters stay out.
  virtual std::vector<torch::Tensor> flat_buffers();
  virtual void set_training(bool on) { train(on); }
  // The trained model for PyTorch without esync, written to `path` as it is (train/export.hpp's
  // save_for_pytorch makes the write atomic): a state_dict by default, the module itself for a
  // TorchScript model.
  virtual void save_for_pytorch(const std::string& path);
};

// name: linreg | mlp | lenet5 | cnn | resnet18, or a path to a TorchScript module (.pt).
// sample_shape: one input sample (e.g. {1, 28, 28}); classes: 0 for regression (linreg).
std::shared_ptr<Net> make_model(const std::string& name, const std::vector<std::int64_t>& sample_shape,
                                std::int64_t classes);

std::shared_ptr<Net> make_linreg(std::int64_t in_features);
std::shared_ptr<Net> make_mlp(std::int64_t in_features, std::int64_t classes);
std::shared_ptr<Net> make_lenet5(const std::vector<std::int64_t>& sample_shape, std::int64_t classes);
std::shared_ptr<Net> make_cnn(const std::vector<std::int64_t>& sample_shape, std::int64_t classes);
std::shared_ptr<Net> make_resnet18(std::int64_t in_channels, std::int64_t classes);
std::shared_ptr<Net> load_torchscript(const std::string& path);

// Output size of `body` for one sample of `sample_shape` (to size the first dense layer).
std::int64_t flat_features(const std::function<torch::Tensor(torch::Tensor)>& body,
                           const std::vector<std::int64_t>& sample_shape);

}  // namespace esync::train
