// The host side of a worker's model (sync_staging.hpp), exercised with CPU tensors and the
// copies forced, as a GPU worker runs it: the weights come down only when the model moved, an
// exchange's writes go up (all of them, or the parameters only), the gradient goes down and up
// with its control slots kept on the host; batches land on the model's device.
#include <gtest/gtest.h>

#include "train/batches.hpp"
#include "train/sync_staging.hpp"

using namespace esync::train;

namespace {

// A model with BatchNorm buffers after its parameters, so a partial upload has something to keep.
FlatModel small_model(std::int64_t spare) {
  torch::manual_seed(3);
  return FlatModel(make_model("cnn", {1, 28, 28}, 10), spare);
}

std::vector<float> host(const float* p, std::int64_t n) { return std::vector<float>(p, p + n); }

}  // namespace

TEST(Staging, WithoutCopiesTheTransportsSeeTheModelsOwnMemory) {
  FlatModel fm = small_model(4);
  SyncStaging stage(fm, 4, /*copy=*/false);
  EXPECT_EQ(stage.weights(), fm.data());
  EXPECT_EQ(stage.weights_out(), fm.data());
  EXPECT_EQ(stage.grads(), fm.grad_data());
  EXPECT_EQ(stage.kind(), "none");
  EXPECT_TRUE(stage.sync_place() == fm.place());
}

// A GPU model is staged through pinned host memory for gloo and the parameter server, and handed
// to the synchroniser in place for NCCL (its kernels then run on the GPU). Needs a CUDA LibTorch
// and a GPU; on a CPU model nothing is staged whatever the transport.
TEST(Staging, AGpuModelIsStagedUnlessItsGroupReducesWithNccl) {
  FlatModel cpu = small_model(4);
  for (const char* backend : {"gloo", "ps", "nccl"}) EXPECT_FALSE(staging_copies(cpu, backend)) << backend;
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA LibTorch or no GPU: the GPU half skipped";
  torch::manual_seed(3);
  auto net = make_model("cnn", {1, 28, 28}, 10);
  net->to(torch::Device("cuda:0"));
  FlatModel gpu(net, 4);
  EXPECT_TRUE(staging_copies(gpu, "gloo"));
  EXPECT_TRUE(staging_copies(gpu, "ps"));
  EXPECT_FALSE(staging_copies(gpu, "nccl"));
  SyncStaging pinned(gpu, 4, true), in_place(gpu, 4, false);
  EXPECT_EQ(pinned.kind(), "pinned");
  EXPECT_TRUE(pinned.sync_place() == esync::kernels::Place::host());
  EXPECT_TRUE(in_place.sync_place().is_cuda());
  EXPECT_EQ(in_place.weights(), gpu.data());
}

TEST(Staging, CopiesFollowTheModelBothWays) {
  FlatModel fm = small_model(4);
  ASSERT_GT(fm.num_buffers(), 0);
  SyncStaging stage(fm, 4, /*copy=*/true);
  EXPECT_EQ(stage.kind(), "host");
  EXPECT_TRUE(stage.sync_place() == esync::kernels::Place::host());
  const auto n = fm.size(), p = fm.num_params();
  // Down: the host copy is a separate buffer holding the model's weights.
  float* w = stage.weights();
  EXPECT_NE(w, fm.data());
  EXPECT_EQ(host(w, n), host(fm.data(), n));
  // Up: an exchange's writes reach the model.
  for (std::int64_t i = 0; i < n; ++i) w[i] = float(i);
  stage.upload_weights();
  EXPECT_EQ(fm.data()[n - 1], float(n - 1));
  // A local step moves the model: the next weights() brings the new values down.
  {
    torch::NoGradGuard ng;
    fm.flat().add_(1.0f);
  }
  EXPECT_EQ(stage.weights()[0], 0.0f) << "the host copy is current until the model is said to have moved";
  stage.model_moved();
  EXPECT_EQ(stage.weights()[0], 1.0f);
  // A partial upload (the parameter server's parameters) leaves the BatchNorm buffers alone.
  float* out = stage.weights_out();
  for (std::int64_t i = 0; i < n; ++i) out[i] = -5.0f;
  stage.upload_weights(static_cast<std::size_t>(p));
  EXPECT_EQ(fm.data()[p - 1], -5.0f);
  EXPECT_EQ(fm.data()[p], float(p) + 1.0f);
  // The gradient: down with room for the control slots, which never reach the model.
  fm.grad().narrow(0, 0, p).fill_(2.0f);
  float* g = stage.grads();
  EXPECT_NE(g, fm.grad_data());
  EXPECT_EQ(g[p - 1], 2.0f);
  g[0] = 7.0f, g[p] = 99.0f;  // a payload value and a control value
  stage.upload_grads();
  EXPECT_EQ(fm.grad_data()[0], 7.0f);
  EXPECT_EQ(fm.grad_data()[p], 0.0f);
  EXPECT_GE(stage.seconds(), 0.0);
}

TEST(Batches, FeederHandsOutTheSamplerOrderOnTheDevice) {
  Split split;
  split.x = torch::arange(20, torch::kFloat32).view({10, 2});
  split.y = torch::arange(10, torch::kInt64);
  std::int64_t next = 0;
  BatchFeeder feeder(
      split,
      [&] {
        return torch::tensor({next++, std::int64_t{9}}, torch::kInt64);
      },
      torch::kCPU);
  for (std::int64_t i = 0; i < 3; ++i) {
    const Batch b = feeder.next();
    EXPECT_EQ(b.size, 2);
    EXPECT_EQ(b.y[0].item<std::int64_t>(), i);
    EXPECT_EQ(b.x[0][1].item<float>(), float(2 * i + 1));
    EXPECT_TRUE(b.x.device().is_cpu());
  }
  EXPECT_EQ(next, 3) << "a CPU feeder reads no batch ahead";
}
