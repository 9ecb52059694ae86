// The Place dispatch (place.hpp): on host memory each call is its CPU kernel; on a GPU the same
// calls on Buffers give the CPU's results (run only where a GPU is visible: PlaceCuda.*, picked
// up by launch/device-check.sh's *Cuda* filter). Buffers start zeroed and round-trip the host.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "esync/config.h"
#include "esync/error.hpp"
#include "esync/place.hpp"
#include "kernel_test_util.hpp"
#if ESYNC_WITH_CUDA
#include "cuda_gate.hpp"
#endif

namespace k = esync::kernels;
using esync::test::rnd;

TEST(Place, HostDispatchRunsTheCpuKernels) {
  const std::size_t n = 1000;
  const auto b = rnd(n, 2), c = rnd(n, 3);
  auto a = rnd(n, 1), ref = a;
  k::axpy(k::Place::host(), a.data(), 0.3f, b.data(), n);
  k::cpu::axpy(ref.data(), 0.3f, b.data(), n);
  EXPECT_EQ(a, ref);
  k::esync_apply(k::Place::host(), a.data(), a.data(), c.data(), 0.9f, n);
  k::cpu::esync_apply(ref.data(), ref.data(), c.data(), 0.9f, n);
  EXPECT_EQ(a, ref);
  std::vector<float> copy(n, 7.0f);
  k::copy(k::Place::host(), copy.data(), a.data(), n);
  EXPECT_EQ(copy, a);
  k::zero(k::Place::host(), copy.data(), n);
  EXPECT_EQ(copy, std::vector<float>(n, 0.0f));
  k::wait(k::Place::host());
}

TEST(Place, TheSideStreamOfTheHostIsTheHost) {
  k::SideStream side(k::Place::host());
  EXPECT_EQ(side.place(), k::Place::host());
  side.follow(k::Place::host());  // nothing to order
  std::vector<float> x{1, 2};
  k::scale(side.place(), x.data(), 3.0f, x.size());
  EXPECT_EQ(x, (std::vector<float>{3, 6}));
  EXPECT_THROW(side.follow(k::Place::gpu(0)), esync::Error);
}

TEST(Place, BuffersStartZeroedAndRoundTripTheHost) {
  k::Buffer buf(k::Place::host(), 5);
  EXPECT_EQ(buf.to_host(), std::vector<float>(5, 0.0f));
  buf.from_host({1, 2, 3, 4, 5});
  EXPECT_EQ(buf.to_host(), (std::vector<float>{1, 2, 3, 4, 5}));
  EXPECT_THROW(buf.from_host({1, 2}), esync::Error);
  k::Buffer moved = std::move(buf);
  EXPECT_EQ(moved.size(), 5u);
  EXPECT_EQ(buf.size(), 0u);
  k::HostBuffer h(k::Place::host(), 3);
  EXPECT_FALSE(h.pinned());  // page-locking is for GPU staging only
  EXPECT_EQ(h.data()[2], 0.0f);
  EXPECT_EQ(k::Place::gpu(1).name(), "cuda:1");
  EXPECT_EQ(k::Place::host().name(), "cpu");
}

TEST(Place, DeviceNamesParseOrAreRefused) {
  EXPECT_FALSE(k::parse_place("cpu", "--device").is_cuda());
  EXPECT_EQ(k::parse_place("cuda", "--device"), k::Place::gpu(0));
  EXPECT_EQ(k::parse_place("cuda:3", "--device"), k::Place::gpu(3));
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "cudax", "cuda:1234567", ""})
    EXPECT_THROW(k::parse_place(bad, "--device"), esync::ConfigError) << bad;
}

#if !ESYNC_WITH_CUDA
TEST(Place, AGpuPlaceWithoutTheCudaKernelsIsRefused) {
  EXPECT_THROW(k::Buffer(k::Place::gpu(0), 4), esync::ConfigError);
  float x = 0;
  EXPECT_THROW(k::scale(k::Place::gpu(0), &x, 2.0f, 1), esync::ConfigError);
}
#else
namespace {
// One dispatched kernel applied at a Place to buffers a (in/out), b, c (in), d (state, in/out).
using Op = std::function<void(const k::Place&, float* a, const float* b, const float* c, float* d, float* e,
                              std::size_t n)>;

std::vector<std::pair<const char*, Op> > ops() {
  return {
      {"axpy", [](auto& p, float* a, const float* b, const float*, float*, float*,
                  std::size_t n) { k::axpy(p, a, 0.3f, b, n); }},
      {"scale", [](auto& p, float* a, const float*, const float*, float*, float*,
                   std::size_t n) { k::scale(p, a, 0.7f, n); }},
      {"weighted_sum",
       [](auto& p, float* a, const float* b, const float* c, float*, float*, std::size_t n) {
         const float* xs[] = {b, c};
         const float w[] = {0.25f, 0.75f};
         k::weighted_sum(p, a, xs, w, 2, n);
       }},
      {"sgd_update momentum",
       [](auto& p, float* a, const float* b, const float*, float* d, float*, std::size_t n) {
         k::sgd_update(p, a, b, d, n, k::SgdParams{0.1f, 0.9f, 1e-4f, true});
       }},
      {"adam_update", [](auto& p, float* a, const float* b, const float*, float* d, float* e,
                         std::size_t n) { k::adam_update(p, a, b, e, d, n, k::AdamParams{}, 3); }},
      {"dc_compensate", [](auto& p, float* a, const float* b, const float* c, float*, float*,
                           std::size_t n) { k::dc_compensate(p, a, b, a, c, n, 0.04f); }},
      {"dc_compensate_adaptive",
       [](auto& p, float* a, const float* b, const float* c, float* d, float*, std::size_t n) {
         k::dc_compensate_adaptive(p, a, b, a, c, d, n, 0.04f, 0.95f, 1e-7f);
       }},
      {"esync_delta", [](auto& p, float* a, const float* b, const float* c, float*, float*,
                         std::size_t n) { k::esync_delta(p, a, b, c, 0.5f, n); }},
      {"esync_apply", [](auto& p, float* a, const float* b, const float* c, float*, float*,
                         std::size_t n) { k::esync_apply(p, a, b, c, 0.9f, n); }},
  };
}

}  // namespace

// Every dispatched kernel on GPU Buffers against the same call on host memory.
TEST(PlaceCuda, EveryDispatchedKernelMatchesTheHost) {
  if (k::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device visible: PlaceCuda skipped";
  const k::Place gpu = k::Place::gpu(0);
  for (const std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{1} << 20}) {
    for (const auto& [name, op] : ops()) {
      auto a = rnd(n, 1), d = rnd(n, 4), e = rnd(n, 5);
      for (auto& x : d) x = std::abs(x);  // a second moment is never negative
      const auto b = rnd(n, 2), c = rnd(n, 3);
      k::Buffer ga(gpu, n), gb(gpu, n), gc(gpu, n), gd(gpu, n), ge(gpu, n);
      ga.from_host(a), gb.from_host(b), gc.from_host(c), gd.from_host(d), ge.from_host(e);
      op(k::Place::host(), a.data(), b.data(), c.data(), d.data(), e.data(), n);
      op(gpu, ga.data(), gb.data(), gc.data(), gd.data(), ge.data(), n);
      const auto got = ga.to_host();
      std::size_t bad = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (std::abs(got[i] - a[i]) > 1e-6f + 1e-5f * std::abs(a[i])) ++bad;
      EXPECT_EQ(bad, 0u) << name << " n=" << n;
    }
  }
}

TEST(PlaceCuda, StagingCopiesThroughPinnedMemory) {
  if (k::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device visible: PlaceCuda skipped";
  const k::Place gpu = k::Place::gpu(0);
  const std::size_t n = 1 << 20;
  k::HostBuffer pinned(gpu, n);
  EXPECT_TRUE(pinned.pinned());
  const auto src = rnd(n, 9);
  std::copy(src.begin(), src.end(), pinned.data());
  k::Buffer dev(gpu, n);
  k::copy(gpu, dev.data(), pinned.data(), n);
  k::wait(gpu);
  EXPECT_EQ(dev.to_host(), src);
}

// Random values staged in pinned memory, a zeroed buffer and a side stream on GPU 0, the side
// stream's kernel loaded and launched once before any hold (a lazy first load could wait for the
// held device).
struct SideStreamCase {
  explicit SideStreamCase(unsigned seed) : values(rnd(n, seed)) {
    std::copy(values.begin(), values.end(), src.data());
    k::scale(side.place(), x.data(), 1.0f, n);
    k::wait(side.place());
  }
  // After copy(src -> x) on gpu and scale(x, 2) on the side stream: x is 2 * values exactly.
  void expect_doubled() const {
    const auto got = x.to_host();
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], 2.0f * values[i]) << "element " << i;
  }
  static constexpr std::size_t n = 1 << 20;
  const k::Place gpu = k::Place::gpu(0);
  k::HostBuffer src{gpu, n};
  const std::vector<float> values;
  k::Buffer x{gpu, n};
  k::SideStream side{gpu};
};

// A SideStream's work runs after what its Place queued before follow(): with the legacy stream
// held, a copy queued there and then followed holds the side stream's kernel too, and the result
// is the kernel applied to what the copy wrote.
TEST(PlaceCuda, ASideStreamWaitsForWhatItFollows) {
  if (k::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device visible: PlaceCuda skipped";
  using namespace std::chrono_literals;
  SideStreamCase c(12);
  {
    esync::test::StreamGate gate(nullptr, 20s);
    k::copy(c.gpu, c.x.data(), c.src.data(), c.n);  // behind the gate
    c.side.follow(c.gpu);
    k::scale(c.side.place(), c.x.data(), 2.0f, c.n);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(cudaStreamQuery(c.side.place().stream), cudaErrorNotReady)
        << "the side stream's kernel ran while what it follows was held";
    gate.open();
    k::wait(c.side.place());
    EXPECT_FALSE(gate.expired());
  }
  c.expect_doubled();
}

// ... and after nothing queued later: with the legacy stream held behind a gate, the side
// stream's work still completes.
TEST(PlaceCuda, ASideStreamWaitsForEventsOnly) {
  if (k::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device visible: PlaceCuda skipped";
  using namespace std::chrono_literals;
  SideStreamCase c(11);
  EXPECT_NE(c.side.place(), c.gpu);
  k::copy(c.gpu, c.x.data(), c.src.data(), c.n);  // on the legacy stream, not waited for
  c.side.follow(c.gpu);
  bool expired = true;
  {
    esync::test::StreamGate gate(nullptr, 20s);       // the legacy stream is held from here
    k::scale(c.side.place(), c.x.data(), 2.0f, c.n);  // after the copy (the event), beside the gate
    k::wait(c.side.place());
    expired = gate.expired();
  }
  EXPECT_FALSE(expired) << "the side stream waited for the legacy stream (held for 20 s)";
  c.expect_doubled();
}
#endif
