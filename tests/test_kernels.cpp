// CPU kernels against a double-precision reference (atol + rtol*|ref|), sizes 0, 1, odd, 2^24.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "esync/kernels.hpp"
#include "kernel_test_util.hpp"

namespace k = esync::kernels;

namespace {

using esync::test::rnd;

template <typename Ref>
void expect_close(const std::vector<float>& got, Ref ref, double atol = 1e-6, double rtol = 1e-5) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double r = ref(i);
    if (!(std::abs(double(got[i]) - r) <= atol + rtol * std::abs(r))) {
      if (bad++ < 5) ADD_FAILURE() << "i=" << i << " got " << got[i] << " want " << r;
    }
  }
  EXPECT_EQ(bad, 0u) << "of " << got.size();
}

class KernelSizes : public ::testing::TestWithParam<std::size_t> {};

TEST_P(KernelSizes, Axpy) {
  const std::size_t n = GetParam();
  auto out = rnd(n, 1), x = rnd(n, 2);
  const auto out0 = out;
  k::cpu::axpy(out.data(), 0.37f, x.data(), n);
  expect_close(out, [&](std::size_t i) { return double(out0[i]) + 0.37 * double(x[i]); });
}

TEST_P(KernelSizes, WeightedSumAnyK) {
  const std::size_t n = GetParam();
  for (int kk : {0, 1, 2, 3, 4, 5, 9}) {
    std::vector<std::vector<float>> in;
    std::vector<const float*> ptrs;
    std::vector<float> w;
    for (int j = 0; j < kk; ++j) {
      in.push_back(rnd(n, 10 + j));
      w.push_back(0.1f * float(j + 1));
    }
    for (auto& v : in) ptrs.push_back(v.data());
    std::vector<float> out(n, 123.0f);
    k::cpu::weighted_sum(out.data(), ptrs.data(), w.data(), kk, n);
    expect_close(out, [&](std::size_t i) {
      double s = 0;
      for (int j = 0; j < kk; ++j) s += double(w[j]) * double(in[j][i]);
      return s;
    });
  }
}

TEST_P(KernelSizes, WeightedSumOutAliasesFirstInput) {
  const std::size_t n = GetParam();
  auto a = rnd(n, 3), b = rnd(n, 4);
  const auto a0 = a;
  const float* xs[2] = {a.data(), b.data()};
  const float w[2] = {0.5f, 2.0f};
  k::cpu::weighted_sum(a.data(), xs, w, 2, n);
  expect_close(a, [&](std::size_t i) { return 0.5 * a0[i] + 2.0 * b[i]; });
}

TEST_P(KernelSizes, Scale) {
  const std::size_t n = GetParam();
  auto x = rnd(n, 5);
  const auto x0 = x;
  k::cpu::scale(x.data(), -1.5f, n);
  expect_close(x, [&](std::size_t i) { return -1.5 * x0[i]; });
}

TEST_P(KernelSizes, SgdPlainMomentumNesterov) {
  const std::size_t n = GetParam();
  const auto g = rnd(n, 6);
  for (int variant = 0; variant < 3; ++variant) {
    auto w = rnd(n, 7), buf = rnd(n, 8);
    const auto w0 = w, b0 = buf;
    k::SgdParams p{0.1f, variant == 0 ? 0.0f : 0.9f, 0.01f, variant == 2};
    k::cpu::sgd_update(w.data(), g.data(), buf.data(), n, p);
    expect_close(w, [&](std::size_t i) {
      const double gi = double(g[i]) + 0.01 * w0[i];
      if (variant == 0) return w0[i] - 0.1 * gi;
      const double b = 0.9 * b0[i] + gi;
      return w0[i] - 0.1 * (variant == 2 ? gi + 0.9 * b : b);
    });
    if (variant > 0) expect_close(buf, [&](std::size_t i) { return 0.9 * b0[i] + g[i] + 0.01 * w0[i]; });
  }
}

TEST_P(KernelSizes, AdamTwoSteps) {
  const std::size_t n = GetParam();
  auto w = rnd(n, 9);
  std::vector<float> m(n, 0.0f), v(n, 0.0f);
  std::vector<double> wd(w.begin(), w.end()), md(n, 0.0), vd(n, 0.0);
  k::AdamParams p{0.01f, 0.9f, 0.999f, 1e-8f, 0.01f};
  for (int step = 1; step <= 2; ++step) {
    const auto g = rnd(n, 100 + step);
    k::cpu::adam_update(w.data(), g.data(), m.data(), v.data(), n, p, step);
    for (std::size_t i = 0; i < n; ++i) {
      md[i] = 0.9 * md[i] + 0.1 * g[i];
      vd[i] = 0.999 * vd[i] + 0.001 * double(g[i]) * g[i];
      const double mh = md[i] / (1 - std::pow(0.9, step)), vh = vd[i] / (1 - std::pow(0.999, step));
      wd[i] = wd[i] * (1 - 0.01 * 0.01) - 0.01 * mh / (std::sqrt(vh) + 1e-8);
    }
  }
  expect_close(
      w, [&](std::size_t i) { return wd[i]; }, 1e-5, 1e-4);
}

TEST_P(KernelSizes, DcAsgdPlainAndAdaptive) {
  const std::size_t n = GetParam();
  const auto g = rnd(n, 11), w = rnd(n, 12), wb = rnd(n, 13);
  std::vector<float> out(n);
  k::cpu::dc_compensate(out.data(), g.data(), w.data(), wb.data(), n, 0.04f);
  expect_close(out,
               [&](std::size_t i) { return g[i] + 0.04 * double(g[i]) * g[i] * (double(w[i]) - wb[i]); });
  auto ms = rnd(n, 14, 0.0f, 1.0f);
  const auto ms0 = ms;
  auto inplace = g;  // out aliases g
  k::cpu::dc_compensate_adaptive(inplace.data(), inplace.data(), w.data(), wb.data(), ms.data(), n, 0.04f,
                                 0.95f, 1e-7f);
  expect_close(ms, [&](std::size_t i) { return 0.95 * ms0[i] + 0.05 * double(g[i]) * g[i]; });
  expect_close(
      inplace,
      [&](std::size_t i) {
        const double msi = 0.95 * ms0[i] + 0.05 * double(g[i]) * g[i];
        return g[i] + 0.04 / std::sqrt(msi + 1e-7) * double(g[i]) * g[i] * (double(w[i]) - wb[i]);
      },
      1e-5, 1e-4);
}

TEST_P(KernelSizes, EsyncDeltaAndApply) {
  const std::size_t n = GetParam();
  const auto wl = rnd(n, 15), wr = rnd(n, 16);
  std::vector<float> delta(n);
  k::cpu::esync_delta(delta.data(), wl.data(), wr.data(), 0.25f, n);
  expect_close(delta, [&](std::size_t i) { return 0.25 * (double(wl[i]) - wr[i]); });
  auto w = wr;  // w aliases w_ref
  k::cpu::esync_apply(w.data(), w.data(), delta.data(), 2.0f, n);
  expect_close(w, [&](std::size_t i) { return wr[i] + 2.0 * 0.25 * (double(wl[i]) - wr[i]); });
}

TEST_P(KernelSizes, DelayAdaptiveApply) {
  const std::size_t n = GetParam();
  const auto g = rnd(n, 17);
  auto w = rnd(n, 18);
  const auto w0 = w;
  k::cpu::delay_adaptive_apply(w.data(), g.data(), 0.5f, 4, 16, n);  // eta = 0.5 * 4/16
  expect_close(w, [&](std::size_t i) { return w0[i] - 0.125 * g[i]; });
}

TEST_P(KernelSizes, PackRoundTrips) {
  const std::size_t n = GetParam();
  const auto x = rnd(n, 19, -100.0f, 100.0f);
  std::vector<std::uint16_t> h(n);
  std::vector<float> back(n);
  k::cpu::pack_fp16(h.data(), x.data(), n);
  k::cpu::unpack_fp16(back.data(), h.data(), n);
  expect_close(
      back, [&](std::size_t i) { return double(x[i]); }, 1e-3, 1.0 / 2048);  // 11-bit significand
  k::cpu::pack_bf16(h.data(), x.data(), n);
  k::cpu::unpack_bf16(back.data(), h.data(), n);
  expect_close(
      back, [&](std::size_t i) { return double(x[i]); }, 1e-30, 1.0 / 256);  // 8-bit significand
}

INSTANTIATE_TEST_SUITE_P(Sizes, KernelSizes,
                         ::testing::Values(std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1001},
                                           std::size_t{65537}, std::size_t{1} << 24));

TEST(Kernels, DelayAdaptiveLr) {
  EXPECT_FLOAT_EQ(k::delay_adaptive_lr(1.0f, 4, 0), 1.0f);
  EXPECT_FLOAT_EQ(k::delay_adaptive_lr(1.0f, 4, 4), 1.0f);
  EXPECT_FLOAT_EQ(k::delay_adaptive_lr(1.0f, 4, 8), 0.5f);
  EXPECT_FLOAT_EQ(k::delay_adaptive_lr(0.2f, 1, 10), 0.02f);
}

TEST(Kernels, HalfExactValuesAndSpecials) {
  // Exactly representable values, rounding to nearest even, subnormals, overflow, Inf, NaN.
  const std::vector<std::pair<float, std::uint16_t>> cases = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3c00},
      {-2.0f, 0xc000},
      {65504.0f, 0x7bff},
      {65520.0f, 0x7c00},                // rounds up to Inf
      {1.0f + 1.0f / 2048, 0x3c00},      // tie -> even (down)
      {1.0f + 3.0f / 2048, 0x3c02},      // tie -> even (up)
      {5.960464477539063e-08f, 0x0001},  // smallest subnormal
      {6.103515625e-05f, 0x0400},        // smallest normal
      {INFINITY, 0x7c00},
      {-INFINITY, 0xfc00}};
  for (auto [f, want] : cases) {
    std::uint16_t h;
    k::cpu::pack_fp16(&h, &f, 1);
    EXPECT_EQ(h, want) << f;
    float back;
    k::cpu::unpack_fp16(&back, &h, 1);
    // Round trip is exact for every representable value (all cases but overflow and the ties).
    const bool representable =
        (want != 0x7c00 || std::isinf(f)) && f != 1.0f + 1.0f / 2048 && f != 1.0f + 3.0f / 2048;
    if (representable) {
      EXPECT_EQ(back, f) << f;
    }
  }
  const float nan = NAN;
  std::uint16_t h, b;
  k::cpu::pack_fp16(&h, &nan, 1);
  k::cpu::pack_bf16(&b, &nan, 1);
  float hb, bb;
  k::cpu::unpack_fp16(&hb, &h, 1);
  k::cpu::unpack_bf16(&bb, &b, 1);
  EXPECT_TRUE(std::isnan(hb));
  EXPECT_TRUE(std::isnan(bb));
  const float one_plus = 1.0f + 1.0f / 256;  // bf16 tie -> even (down to 1.0)
  k::cpu::pack_bf16(&b, &one_plus, 1);
  EXPECT_EQ(b, 0x3f80);
}

}  // namespace
