// A TorchScript module given by path (torch.jit.save in Python, or Module::save in C++): its
// parameters and floating-point buffers join the flat buffer like any built-in model's.
#include <torch/script.h>

#include <sstream>

#include "esync/error.hpp"
#include "train/models/net.hpp"

namespace esync::train {
namespace {

struct TorchScriptNet : Net {
  explicit TorchScriptNet(torch::jit::Module m) : module(std::move(m)) {}
  torch::Tensor forward(torch::Tensor x) override {
    auto out = module.forward({x});
    ESYNC_CHECK_T(ConfigError, out.isTensor(), "TorchScript model's forward must return one tensor");
    return out.toTensor();
  }
  std::vector<torch::Tensor> flat_params() override {
    std::vector<torch::Tensor> out;
    for (const auto& p : module.parameters()) out.push_back(p);
    return out;
  }
  std::vector<torch::Tensor> flat_buffers() override {
    std::vector<torch::Tensor> out;
    for (const auto& b : module.buffers())
      if (b.is_floating_point()) out.push_back(b);
    return out;
  }
  void set_training(bool on) override {
    train(on);
    module.train(on);
  }
  void save_for_pytorch(const std::string& path) override {
    // On the CPU, each tensor with a storage of its own: training made them views of the flat
    // buffer, and a view is saved with an offset into that shared storage.
    // (Module::clone() loses which attributes are parameters: a copy is made by a round trip.)
    std::stringstream bytes;
    module.save(bytes);
    torch::jit::Module copy = torch::jit::load(bytes, torch::kCPU);
    torch::NoGradGuard no_grad;
    for (const auto& p : copy.named_parameters(/*recurse=*/true))
      p.value.set_data(p.value.detach().to(torch::kCPU).contiguous().clone());
    for (const auto& b : copy.named_buffers(/*recurse=*/true))
      b.value.set_data(b.value.detach().to(torch::kCPU).contiguous().clone());
    try {
      copy.save(path);
    } catch (const c10::Error& e) {
      const std::string what = e.what();
      ESYNC_THROW(IoError, "cannot write the model to ", path, ": ", what.substr(0, what.find('\n')));
    }
  }
  torch::jit::Module module;
};

}  // namespace

std::shared_ptr<Net> load_torchscript(const std::string& path) {
  try {
    return std::make_shared<TorchScriptNet>(torch::jit::load(path));
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    ESYNC_THROW(IoError, path, ": not a loadable TorchScript module (", what.substr(0, what.find('\n')), ")");
  }
}

}  // namespace esync::train
