// --overlap on a GPU: the reduction left in flight runs on a stream of its own, ordered after the
// kernels that wrote its input by an event and after nothing else, so the next round's steps on
// LibTorch's stream (the legacy default stream) and the reduction share the GPU instead of taking
// turns. Shown by holding the compute stream with a host function while a reduction runs: the
// reduction must complete, and the round's result be right, while the stream is still held.
// Needs a GPU (a one-rank NCCL group): skipped without one.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "esync/collective.hpp"
#include "esync/config.h"
#include "esync/place.hpp"
#include "esync/synchronizer.hpp"

#if ESYNC_WITH_CUDA
#include "cuda_gate.hpp"
#endif

namespace comm = esync::comm;
namespace es = esync::sync;
namespace k = esync::kernels;
using namespace std::chrono_literals;

namespace {

// Waits (at most `limit`) until flag is set; false on timeout.
bool await(const std::atomic<bool>& flag, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!flag) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST(ModelAveraging, OverlapOnAGpuReducesWhileTheComputeStreamIsBusy) {
#if !ESYNC_WITH_CUDA
  GTEST_SKIP() << "no CUDA build: the GPU's streams are not tested";
#else
  if (k::cuda::device_count() == 0) GTEST_SKIP() << "no GPU visible: the GPU's streams are not tested";
  constexpr std::size_t kN = 4099, kParams = 4000;  // the rest: "BatchNorm buffers"
  constexpr float kLr = 0.5f;
  constexpr int kRounds = 3;
  comm::CollectiveOptions o;
  o.backend = "nccl", o.device = 0, o.timeout = 30s;  // longer than the gate: its failure, not NCCL's
  auto c = comm::make_collective(o, comm::make_memory_store());
  const k::Place at = k::Place::gpu(0);  // its stream: the legacy default stream, LibTorch's

  // The side thread asks for this rank's regroup vote before its first GPU call of the round:
  // in the last round it waits there until the compute stream is held, so the reduction's GPU
  // work is all queued behind the gate unless it runs on a stream of its own.
  std::atomic<int> votes{0};  // the reductions are collected in order: the vote's index is the round
  std::atomic<bool> held{false};
  es::SyncContext ctx;
  ctx.collective = c.get(), ctx.place = at, ctx.overlap = true, ctx.k_fixed = 1;
  ctx.global_lr = kLr, ctx.params = kParams;
  ctx.regroup_vote = [&] {
    if (votes++ == kRounds - 1) {
      EXPECT_TRUE(await(held, 30s)) << "the compute stream was never held";
    }
    return false;
  };
  auto s = es::make_synchronizer("local-sgd", ctx);
  std::vector<float> p_host(kN);
  for (std::size_t j = 0; j < kN; ++j) p_host[j] = 0.01f * float(int(j % 5) - 2);
  k::Buffer w(at, kN), p(at, kN);
  w.from_host(std::vector<float>(kN, 1.0f));
  p.from_host(p_host);

  bool expired = true;
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_EQ(s->begin_round(static_cast<std::uint64_t>(round), w.data(), kN, 0.0), 1);
    k::axpy(at, w.data(), 1.0f, p.data(), kN);  // one local step
    s->step_done(static_cast<std::uint64_t>(round), 0.0);
    es::SyncStats st;
    s->end_round(w.data(), kN, 64.0, false, st);
  }
  {
    esync::test::StreamGate gate(nullptr, 10s);  // the next round's steps, as far as the GPU is concerned
    held = true;
    es::SyncStats st;
    s->settle(w.data(), kN, st);  // returns when the reduction is back; its merge is queued
    expired = gate.expired();
  }
  EXPECT_FALSE(expired) << "the reduction waited for the compute stream (held for 10 s)";
  // One rank: every round's average is its own progress; params move by lr times it.
  const auto got = w.to_host();
  for (std::size_t j = 0; j < kN; ++j) {
    const float want = 1.0f + kRounds * (j < kParams ? kLr : 1.0f) * p_host[j];
    ASSERT_NEAR(got[j], want, 1e-5f) << "element " << j;
  }
#endif
}
