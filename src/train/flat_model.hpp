#pragma once
// FlatModel: re-homes a model's parameters and floating-point buffers into one contiguous
// buffer `flat` ([params | buffers]) and its gradients into one buffer `grad` ([params]).
// Each parameter becomes a view (set_data) into `flat`, each .grad a view into `grad`, so an
// optimiser step, an allreduce or a PS push is one call on one pointer with no packing, and
// autograd accumulates straight into `grad` (zero it, never set it to None).
// Both buffers live on the net's device when it is made: a GPU model's never leave the GPU but
// through the staging of sync_staging.hpp and the host copies below.
#include <memory>
#include <vector>

#include "esync/place.hpp"
#include "train/models/net.hpp"

namespace esync::train {

class FlatModel {
 public:
  // grad_spare: extra floats after the gradient, for control values that travel with it in one
  // reduction (see synchronizer.hpp).
  explicit FlatModel(std::shared_ptr<Net> net, std::int64_t grad_spare = 0);
  Net& net() { return *net_; }
  std::shared_ptr<Net> net_ptr() { return net_; }
  torch::Tensor& flat() { return flat_; }
  torch::Tensor& grad() { return grad_; }
  std::int64_t num_params() const { return n_params_; }
  std::int64_t num_buffers() const { return n_buffers_; }
  std::int64_t size() const { return n_params_ + n_buffers_; }
  float* data() { return flat_.data_ptr<float>(); }
  float* grad_data() { return grad_.data_ptr<float>(); }
  void zero_grad() { grad_.zero_(); }
  // Where the buffers live, for the kernels (place.hpp).
  const kernels::Place& place() const { return place_; }
  // The flat buffer as host floats (checkpoints), and back.
  std::vector<float> to_host() const;
  void load(const std::vector<float>& flat);

 private:
  std::shared_ptr<Net> net_;
  torch::Tensor flat_, grad_;
  kernels::Place place_;
  std::int64_t n_params_ = 0, n_buffers_ = 0;
};

// Loss used for training and evaluation: cross-entropy, or 1/2 mean squared error when
// classes == 0 (least squares, matching seed 000's objective).
torch::Tensor loss_fn(const torch::Tensor& out, const torch::Tensor& y, std::int64_t classes);

}  // namespace esync::train
