// mlp: flatten -> 256 -> ReLU -> 128 -> ReLU -> classes.
#include "train/models/net.hpp"

namespace esync::train {
namespace {

struct Mlp : Net {
  Mlp(std::int64_t in, std::int64_t classes)
      : fc1(register_module("fc1", torch::nn::Linear(in, 256))),
        fc2(register_module("fc2", torch::nn::Linear(256, 128))),
        fc3(register_module("fc3", torch::nn::Linear(128, classes))) {}
  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(fc1(x.flatten(1)));
    return fc3(torch::relu(fc2(x)));
  }
  torch::nn::Linear fc1, fc2, fc3;
};

}  // namespace

std::shared_ptr<Net> make_mlp(std::int64_t in, std::int64_t classes) {
  return std::make_shared<Mlp>(in, classes);
}

}  // namespace esync::train
