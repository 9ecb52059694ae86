#include "train/flat_model.hpp"

#include "esync/error.hpp"
#include "train/device.hpp"

namespace esync::train {

FlatModel::FlatModel(std::shared_ptr<Net> net, std::int64_t grad_spare) : net_(std::move(net)) {
  auto params = net_->flat_params();
  auto buffers = net_->flat_buffers();
  for (const auto& p : params) {
    ESYNC_CHECK_T(ConfigError, p.scalar_type() == torch::kFloat32, "only float32 parameters are supported");
    n_params_ += p.numel();
  }
  for (const auto& b : buffers) n_buffers_ += b.numel();
  const auto opts =
      torch::TensorOptions().dtype(torch::kFloat32).device(params.empty() ? torch::kCPU : params[0].device());
  flat_ = torch::zeros({n_params_ + n_buffers_}, opts);
  grad_ = torch::zeros({n_params_ + grad_spare}, opts);
  place_ = place_of(flat_.device());
  torch::NoGradGuard ng;
  std::int64_t off = 0;
  for (auto& p : params) {
    auto view = flat_.narrow(0, off, p.numel()).view(p.sizes());
    view.copy_(p.detach());
    p.set_data(view);
    p.mutable_grad() = grad_.narrow(0, off, p.numel()).view(p.sizes());
    off += p.numel();
  }
  for (auto& b : buffers) {
    auto view = flat_.narrow(0, off, b.numel()).view(b.sizes());
    view.copy_(b.to(torch::kFloat32));
    b.set_data(view);
    off += b.numel();
  }
}

std::vector<float> FlatModel::to_host() const {
  const auto host = flat_.to(torch::kCPU).contiguous();
  return std::vector<float>(host.data_ptr<float>(), host.data_ptr<float>() + host.numel());
}

void FlatModel::load(const std::vector<float>& flat) {
  ESYNC_CHECK(static_cast<std::int64_t>(flat.size()) == size(), "FlatModel::load: ", flat.size(),
              " values for a model of ", size());
  torch::NoGradGuard ng;
  flat_.copy_(torch::from_blob(const_cast<float*>(flat.data()), {size()}, torch::kFloat32));
}

torch::Tensor loss_fn(const torch::Tensor& out, const torch::Tensor& y, std::int64_t classes) {
  if (classes == 0) return 0.5 * (out - y).pow(2).mean();
  return torch::nn::functional::cross_entropy(out, y);
}

}  // namespace esync::train
