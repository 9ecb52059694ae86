// Models and the flat buffer: shapes, views in both directions, gradients landing in the flat
// gradient, the flat optimiser against torch::optim, BatchNorm buffers, TorchScript models.
#include <gtest/gtest.h>
#include <torch/script.h>

#include <filesystem>
#include <fstream>

#include "esync/error.hpp"
#include "esync/optimizer.hpp"
#include "train/flat_model.hpp"

using namespace esync::train;
namespace fs = std::filesystem;

namespace {

TEST(Models, OutputShapes) {
  const std::vector<std::int64_t> fm = {1, 28, 28}, cifar = {3, 32, 32};
  for (const char* name : {"mlp", "lenet5", "cnn"}) {
    for (const auto& shape : {fm, cifar}) {
      auto net = make_model(name, shape, 10);
      std::vector<std::int64_t> in = {3};
      in.insert(in.end(), shape.begin(), shape.end());
      EXPECT_EQ(net->forward(torch::randn(in)).sizes(), (std::vector<std::int64_t>{3, 10})) << name;
    }
  }
  auto resnet = make_model("resnet18", cifar, 10);
  EXPECT_EQ(resnet->forward(torch::randn({2, 3, 32, 32})).sizes(), (std::vector<std::int64_t>{2, 10}));
  FlatModel r(resnet);
  EXPECT_GT(r.num_params(), 11'000'000);
  EXPECT_GT(r.num_buffers(), 0);  // BatchNorm running statistics joined the flat buffer
  auto lin = make_model("linreg", {400}, 0);
  EXPECT_EQ(lin->forward(torch::randn({5, 400})).sizes(), (std::vector<std::int64_t>{5}));
  EXPECT_THROW(make_model("vgg99", fm, 10), esync::ConfigError);
  EXPECT_THROW(make_model("lenet5", {400}, 0), esync::ConfigError);
}

TEST(FlatModel, ParametersAreViewsBothWays) {
  torch::manual_seed(1);
  FlatModel m(make_model("lenet5", {1, 28, 28}, 10));
  auto params = m.net().flat_params();
  ASSERT_EQ(m.num_params(), 61706);
  // Writing the flat buffer changes the parameters...
  m.flat().fill_(0.25f);
  for (const auto& p : params) EXPECT_TRUE(torch::all(p == 0.25f).item<bool>());
  // ...and writing a parameter changes the flat buffer.
  {
    torch::NoGradGuard ng;
    params.back().add_(1.0f);
  }
  EXPECT_FLOAT_EQ(m.flat()[m.num_params() - 1].item<float>(), 1.25f);
  EXPECT_EQ(params[0].data_ptr<float>(), m.data());
}

TEST(FlatModel, GradientsAccumulateIntoTheFlatGradient) {
  torch::manual_seed(2);
  auto a = make_model("lenet5", {1, 28, 28}, 10);
  torch::manual_seed(2);
  auto b = make_model("lenet5", {1, 28, 28}, 10);  // identical twin, ordinary autograd
  FlatModel fa(a);
  const auto x = torch::randn({4, 1, 28, 28});
  const auto y = torch::tensor({1, 2, 3, 4}, torch::kInt64);
  fa.zero_grad();
  loss_fn(a->forward(x), y, 10).backward();
  loss_fn(b->forward(x), y, 10).backward();
  std::vector<torch::Tensor> ref;
  for (const auto& p : b->parameters()) ref.push_back(p.grad().flatten());
  EXPECT_TRUE(torch::allclose(fa.grad(), torch::cat(ref), 1e-5, 1e-6));
  EXPECT_GT(fa.grad().abs().sum().item<float>(), 0.0f);
}

TEST(FlatModel, FlatOptimizerMatchesTorchOptim) {
  torch::manual_seed(3);
  auto a = make_model("mlp", {1, 28, 28}, 10);
  torch::manual_seed(3);
  auto b = make_model("mlp", {1, 28, 28}, 10);
  FlatModel fa(a);
  esync::OptimizerConfig oc;
  oc.kind = "momentum";
  oc.momentum = 0.9f;
  oc.weight_decay = 1e-3f;
  esync::FlatOptimizer opt(oc, static_cast<std::size_t>(fa.num_params()));
  torch::optim::SGD ref(b->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-3));
  for (int step = 0; step < 3; ++step) {
    const auto x = torch::randn({8, 1, 28, 28});
    const auto y = torch::randint(10, {8}, torch::kInt64);
    fa.zero_grad();
    loss_fn(a->forward(x), y, 10).backward();
    opt.step(fa.data(), fa.grad_data(), 0.05f);
    ref.zero_grad();
    loss_fn(b->forward(x), y, 10).backward();
    ref.step();
  }
  // The optimiser wrote the flat buffer; the module's parameters (views) see the same values.
  auto pa = a->parameters(), pb = b->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::allclose(pa[i], pb[i], 1e-5, 1e-6)) << i;
}

TEST(FlatModel, BatchNormStatisticsLiveInTheFlatBuffer) {
  FlatModel m(make_model("cnn", {1, 28, 28}, 10));
  const auto before = m.flat().narrow(0, m.num_params(), m.num_buffers()).clone();
  m.net().set_training(true);
  m.net().forward(torch::randn({16, 1, 28, 28}) * 3 + 1);
  const auto after = m.flat().narrow(0, m.num_params(), m.num_buffers());
  EXPECT_FALSE(torch::equal(before, after));  // running mean/var updated in place, in the flat buffer
}

TEST(TorchScript, LoadsAModuleFromPath) {
  const auto dir = fs::temp_directory_path() / ("esync-ts-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = (dir / "tiny.pt").string();
  torch::jit::Module mod("Tiny");
  mod.register_parameter("w", torch::randn({784, 10}) * 0.01, false);
  mod.register_parameter("b", torch::zeros({10}), false);
  mod.define(R"(
    def forward(self, x):
        return torch.matmul(x.flatten(1), self.w) + self.b
  )");
  mod.save(path);
  FlatModel m(make_model(path, {1, 28, 28}, 10));
  EXPECT_EQ(m.num_params(), 7850);
  EXPECT_EQ(m.net().forward(torch::randn({2, 1, 28, 28})).sizes(), (std::vector<std::int64_t>{2, 10}));
  m.flat().zero_();
  EXPECT_EQ(m.net().forward(torch::randn({2, 1, 28, 28})).abs().sum().item<float>(), 0.0f);
  { std::ofstream(dir / "junk.pt") << "not a zip archive"; }
  EXPECT_THROW(make_model((dir / "junk.pt").string(), {1, 28, 28}, 10), esync::IoError);
}

}  // namespace
