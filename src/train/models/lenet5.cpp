// lenet5: conv 6@5x5 pad 2 -> ReLU -> maxpool 2 -> conv 16@5x5 -> ReLU -> maxpool 2 ->
// fc 120 -> ReLU -> fc 84 -> ReLU -> fc classes. ReLU and max pooling (the modern LeNet) train
// markedly faster than the original tanh/average pooling at the same learning rate.
#include "train/models/net.hpp"

namespace esync::train {
namespace {

struct LeNet5 : Net {
  LeNet5(const std::vector<std::int64_t>& shape, std::int64_t classes)
      : conv1(
            register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(shape[0], 6, 5).padding(2)))),
        conv2(register_module("conv2", torch::nn::Conv2d(6, 16, 5))),
        fc1(register_module(
            "fc1", torch::nn::Linear(flat_features([this](auto x) { return features(x); }, shape), 120))),
        fc2(register_module("fc2", torch::nn::Linear(120, 84))),
        fc3(register_module("fc3", torch::nn::Linear(84, classes))) {}
  torch::Tensor features(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1(x)), 2);
    return torch::max_pool2d(torch::relu(conv2(x)), 2);
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = features(x).flatten(1);
    x = torch::relu(fc1(x));
    return fc3(torch::relu(fc2(x)));
  }
  torch::nn::Conv2d conv1, conv2;
  torch::nn::Linear fc1, fc2, fc3;
};

}  // namespace

std::shared_ptr<Net> make_lenet5(const std::vector<std::int64_t>& shape, std::int64_t classes) {
  return std::make_shared<LeNet5>(shape, classes);
}

}  // namespace esync::train
