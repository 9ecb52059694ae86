// cnn: a small VGG-style network with BatchNorm (so BatchNorm statistics travel in the flat
// buffer): [conv3x3 32, BN, ReLU] x2, maxpool, [conv3x3 64, BN, ReLU] x2, maxpool,
// fc 128, ReLU, fc classes.
#include "train/models/net.hpp"

namespace esync::train {
namespace {

void conv_bn_relu(torch::nn::Sequential& s, std::int64_t in, std::int64_t out) {
  s->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
  s->push_back(torch::nn::BatchNorm2d(out));
  s->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
}

torch::nn::Sequential make_body(std::int64_t in) {
  torch::nn::Sequential s;
  conv_bn_relu(s, in, 32);
  conv_bn_relu(s, 32, 32);
  s->push_back(torch::nn::MaxPool2d(2));
  conv_bn_relu(s, 32, 64);
  conv_bn_relu(s, 64, 64);
  s->push_back(torch::nn::MaxPool2d(2));
  return s;
}

struct Cnn : Net {
  Cnn(const std::vector<std::int64_t>& shape, std::int64_t classes)
      : body(register_module("body", make_body(shape[0]))),
        fc1(register_module(
            "fc1",
            torch::nn::Linear(flat_features([this](auto x) { return body->forward(x); }, shape), 128))),
        fc2(register_module("fc2", torch::nn::Linear(128, classes))) {}
  torch::Tensor forward(torch::Tensor x) override {
    x = body->forward(x).flatten(1);
    return fc2(torch::relu(fc1(x)));
  }
  torch::nn::Sequential body;
  torch::nn::Linear fc1, fc2;
};

}  // namespace

std::shared_ptr<Net> make_cnn(const std::vector<std::int64_t>& shape, std::int64_t classes) {
  return std::make_shared<Cnn>(shape, classes);
}

}  // namespace esync::train
