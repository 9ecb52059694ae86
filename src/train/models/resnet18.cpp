// resnet18, CIFAR variant (He et al. 2016 as adapted for 32x32 input): conv3x3 64 stem without
// max pooling, four stages of two BasicBlocks (64, 128, 256, 512 channels, strides 1, 2, 2, 2),
// global average pooling, fc. ~11.2 M parameters.
#include "train/models/net.hpp"

namespace esync::train {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv3x3(std::int64_t in, std::int64_t out, std::int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

struct BasicBlockImpl : nn::Module {
  BasicBlockImpl(std::int64_t in, std::int64_t out, std::int64_t stride)
      : conv1(register_module("conv1", conv3x3(in, out, stride))),
        bn1(register_module("bn1", nn::BatchNorm2d(out))),
        conv2(register_module("conv2", conv3x3(out, out, 1))),
        bn2(register_module("bn2", nn::BatchNorm2d(out))) {
    if (stride != 1 || in != out) {
      shortcut = register_module(
          "shortcut", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)),
                                     nn::BatchNorm2d(out)));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = torch::relu(bn1(conv1(x)));
    y = bn2(conv2(y));
    return torch::relu(y + (shortcut ? shortcut->forward(x) : x));
  }
  nn::Conv2d conv1;
  nn::BatchNorm2d bn1;
  nn::Conv2d conv2;
  nn::BatchNorm2d bn2;
  nn::Sequential shortcut{nullptr};
};
TORCH_MODULE(BasicBlock);

struct ResNet18 : Net {
  ResNet18(std::int64_t in_channels, std::int64_t classes)
      : stem(register_module("stem", conv3x3(in_channels, 64, 1))),
        bn(register_module("bn", nn::BatchNorm2d(64))),
        fc(register_module("fc", nn::Linear(512, classes))) {
    std::int64_t in = 64;
    const std::int64_t widths[] = {64, 128, 256, 512};
    for (int s = 0; s < 4; ++s) {
      for (int b = 0; b < 2; ++b) {
        const std::int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        layers->push_back(BasicBlock(in, widths[s], stride));
        in = widths[s];
      }
    }
    register_module("layers", layers);
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(bn(stem(x)));
    x = layers->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc(x);
  }
  nn::Conv2d stem;
  nn::BatchNorm2d bn;
  nn::Sequential layers;
  nn::Linear fc;
};

}  // namespace

std::shared_ptr<Net> make_resnet18(std::int64_t in_channels, std::int64_t classes) {
  return std::make_shared<ResNet18>(in_channels, classes);
}

}  // namespace esync::train
