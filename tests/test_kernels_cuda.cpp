// CUDA kernels against the CPU kernels (same semantics), run only where a GPU is present.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "esync/config.h"
#include "esync/kernels.hpp"
#include "kernel_test_util.hpp"

#if ESYNC_WITH_CUDA
namespace k = esync::kernels;

namespace {

struct DeviceBuf {
  explicit DeviceBuf(const std::vector<float>& h)
      : n(h.size()), p(static_cast<float*>(k::cuda::device_alloc(n * 4))) {
    k::cuda::copy_to_device(p, h.data(), n * 4);
  }
  ~DeviceBuf() { k::cuda::device_free(p); }
  std::vector<float> host() const {
    std::vector<float> h(n);
    k::cuda::copy_to_host(h.data(), p, n * 4);
    return h;
  }
  std::size_t n;
  float* p;
};

using esync::test::rnd;

void expect_near_all(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - b[i]) > 1e-6f + 1e-5f * std::abs(b[i])) ++bad;
  EXPECT_EQ(bad, 0u);
}

class CudaKernels : public ::testing::TestWithParam<std::size_t> {
 protected:
  void SetUp() override {
    if (k::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device visible: CUDA kernel tests skipped";
  }
};

TEST_P(CudaKernels, MatchCpu) {
  const std::size_t n = GetParam();
  const auto g = rnd(n, 1), w = rnd(n, 2), wb = rnd(n, 3);
  // axpy
  auto cpu = w;
  k::cpu::axpy(cpu.data(), 0.3f, g.data(), n);
  DeviceBuf dw(w), dg(g), dwb(wb);
  k::cuda::axpy(dw.p, 0.3f, dg.p, n, nullptr);
  k::cuda::synchronize();
  expect_near_all(dw.host(), cpu);
  // momentum SGD
  std::vector<float> buf(n, 0.1f);
  auto wc = w;
  k::SgdParams p{0.1f, 0.9f, 0.01f, false};
  k::cpu::sgd_update(wc.data(), g.data(), buf.data(), n, p);
  DeviceBuf dw2(w), dbuf(std::vector<float>(n, 0.1f));
  k::cuda::sgd_update(dw2.p, dg.p, dbuf.p, n, p, nullptr);
  k::cuda::synchronize();
  expect_near_all(dw2.host(), wc);
  expect_near_all(dbuf.host(), buf);
  // DC-ASGD
  std::vector<float> out(n);
  k::cpu::dc_compensate(out.data(), g.data(), w.data(), wb.data(), n, 0.04f);
  DeviceBuf dout(std::vector<float>(n, 0.0f)), dw3(w);
  k::cuda::dc_compensate(dout.p, dg.p, dw3.p, dwb.p, n, 0.04f, nullptr);
  k::cuda::synchronize();
  expect_near_all(dout.host(), out);
  // weighted sum, K = 3
  const float* xs[3] = {g.data(), w.data(), wb.data()};
  const float ws[3] = {0.2f, 0.3f, 0.5f};
  k::cpu::weighted_sum(out.data(), xs, ws, 3, n);
  const float* dxs[3] = {dg.p, dw3.p, dwb.p};
  k::cuda::weighted_sum(dout.p, dxs, ws, 3, n, nullptr);
  k::cuda::synchronize();
  expect_near_all(dout.host(), out);
}

INSTANTIATE_TEST_SUITE_P(Sizes, CudaKernels,
                         ::testing::Values(std::size_t{0}, std::size_t{1}, std::size_t{1001},
                                           std::size_t{1} << 24));

}  // namespace
#else
TEST(CudaKernels, NotBuilt) {
  GTEST_SKIP() << "built without CUDA (ESYNC_CUDA=OFF or no nvcc): CUDA kernel tests skipped";
}
#endif
