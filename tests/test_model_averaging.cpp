// ModelAveraging (local-SGD's round, ESync's too) on gloo ranks as threads, with and without
// --overlap, under each weighting of averaging.hpp. Rank i takes K_i = i + 1 steps of B_i
// samples, each adding a fixed vector p_i independent of w (so Delta_i = K_i p_i), and both
// variants must end at w_0 + R * Delta with Delta the weighting's average of the Delta_i. The
// last floats are "BatchNorm buffers": averaged plainly, never scaled by the global lr.
// Overlap only delays when a rank sees the average; after settle() every rank holds it bit for bit.
// The same rounds run on GPUs over NCCL (one rank per GPU, as many as are visible, up to 3),
// where the synchroniser's every kernel runs on the GPU: skipped without one. SSGD's gradient
// average too.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "esync/collective.hpp"
#include "esync/config.h"
#include "esync/place.hpp"
#include "esync/synchronizer.hpp"
#include "test_util.hpp"

namespace comm = esync::comm;
namespace es = esync::sync;
using namespace std::chrono_literals;

namespace {

constexpr int kWorld = 3, kRounds = 6, kSteps = 3;
constexpr std::size_t kN = 1001, kParams = 990;  // the last 11 floats are buffers
constexpr float kGlobalLr = 0.8f;

float progress(int rank, std::size_t j) { return 0.001f * float((rank + 1) * (int(j % 7) - 3)); }
int steps(int rank) { return rank + 1; }
double batch(int rank) { return 16.0 * (3 - rank); }
double samples(int rank) { return steps(rank) * batch(rank); }

struct RankResult {
  std::vector<float> w;
  std::vector<bool> stops;    // end_round's return, per round
  bool settled_stop = false;  // settle()'s
  double samples_seen = 0;    // total_samples over every call
  double hidden_s = 0;
};

// The ranks: gloo on the host (kWorld of them), or NCCL with rank r on GPU r.
struct Group {
  int world = kWorld;
  bool gpu = false;
  esync::kernels::Place place(int rank) const {
    return gpu ? esync::kernels::Place::gpu(rank) : esync::kernels::Place::host();
  }
};

// GPUs for the NCCL group: as many as are visible, up to kWorld; 0 in a build without CUDA.
int gpus() {
#if ESYNC_WITH_CUDA
  return std::min(kWorld, esync::kernels::cuda::device_count());
#else
  return 0;
#endif
}

// Runs body(collective) on the group's ranks as threads.
template <typename Body>
void on_ranks(Body body, const Group& g = {}) {
  auto store = comm::make_memory_store();
  auto make = [&](int r) {
    comm::CollectiveOptions o;
    o.backend = g.gpu ? "nccl" : "gloo", o.device = r;
    o.rank = r, o.size = g.world, o.timeout = 20s;
    return comm::make_collective(o, store);
  };
  esync::test::expect_no_rank_errors(esync::test::run_collective_ranks(g.world, make, body));
}

// Runs kRounds rounds on every rank; rank 1 votes stop in round `vote_round`. The model and the
// progress it adds live where the group's synchroniser works (the rank's GPU for NCCL).
std::vector<RankResult> run(bool overlap, int vote_round,
                            esync::Weighting weighting = esync::Weighting::samples, const Group& g = {}) {
  namespace k = esync::kernels;
  std::vector<RankResult> out(static_cast<std::size_t>(g.world));
  on_ranks(
      [&](comm::Collective& c) {
        RankResult& res = out[static_cast<std::size_t>(c.rank())];
        const k::Place at = g.place(c.rank());
        es::SyncContext ctx;
        ctx.collective = &c, ctx.k_fixed = kSteps, ctx.overlap = overlap, ctx.global_lr = kGlobalLr;
        ctx.weighting = weighting, ctx.params = kParams, ctx.place = at;
        auto s = es::make_synchronizer("local-sgd", ctx);
        k::Buffer w(at, kN), p(at, kN);
        w.from_host(std::vector<float>(kN, 0.5f));
        std::vector<float> mine(kN);
        for (std::size_t j = 0; j < kN; ++j) mine[j] = progress(c.rank(), j);
        p.from_host(mine);
        for (int round = 0; round < kRounds; ++round) {
          const int steps_k = s->begin_round(static_cast<std::uint64_t>(round), w.data(), kN, 0.0);
          ASSERT_EQ(steps_k, kSteps);
          for (int step = 0; step < steps(c.rank()); ++step) {  // ends early, as a deadline would
            k::axpy(at, w.data(), 1.0f, p.data(), kN);
            s->step_done(static_cast<std::uint64_t>(round), 0.0);
          }
          es::SyncStats st;
          res.stops.push_back(
              s->end_round(w.data(), kN, samples(c.rank()), c.rank() == 1 && round == vote_round, st));
          res.samples_seen += st.total_samples, res.hidden_s += st.hidden_s;
        }
        es::SyncStats st;
        res.settled_stop = s->settle(w.data(), kN, st);
        res.samples_seen += st.total_samples;
        res.w = w.to_host();
      },
      g);
  return out;
}

// The weighting's average of the Delta_i over `world` ranks, written out from its definition.
std::vector<float> expected(esync::Weighting weighting, int world = kWorld) {
  double total_s = 0, total_b = 0;
  for (int r = 0; r < world; ++r) total_s += samples(r), total_b += batch(r);
  std::vector<float> w(kN);
  for (std::size_t j = 0; j < kN; ++j) {
    double avg = 0, plain = 0;
    for (int r = 0; r < world; ++r) {
      const double delta = steps(r) * progress(r, j);
      switch (weighting) {
        case esync::Weighting::samples:
          avg += samples(r) / total_s * delta;
          break;
        case esync::Weighting::batch:
          avg += batch(r) / total_b * delta;
          break;
        case esync::Weighting::normalized:
          avg += (total_s / total_b) * batch(r) / total_b * delta / steps(r);
          break;
      }
      plain += (weighting == esync::Weighting::samples ? samples(r) / total_s : batch(r) / total_b) * delta;
    }
    w[j] = static_cast<float>(0.5 + kRounds * (j < kParams ? kGlobalLr * avg : plain));
  }
  return w;
}

}  // namespace

TEST(ModelAveraging, SyncAndOverlapReachTheWeightingsGlobalModel) {
  for (const auto weighting :
       {esync::Weighting::batch, esync::Weighting::samples, esync::Weighting::normalized}) {
    const auto want = expected(weighting);
    for (const bool overlap : {false, true}) {
      const auto res = run(overlap, -1, weighting);
      const std::string what = std::string(esync::weighting_name(weighting)) + (overlap ? " overlap" : "");
      for (int r = 0; r < kWorld; ++r) {
        const auto& got = res[static_cast<std::size_t>(r)];
        for (std::size_t j = 0; j < kN; ++j)
          ASSERT_NEAR(got.w[j], want[j], 1e-5f) << what << " rank " << r << " element " << j;
        // Every sample counted exactly once, in the round's call or (overlap) the next one.
        EXPECT_DOUBLE_EQ(got.samples_seen, kRounds * (samples(0) + samples(1) + samples(2))) << what;
        EXPECT_EQ(got.w, res[0].w) << "rank " << r << " differs from rank 0 (" << what << ")";
      }
    }
  }
}

// On GPUs over NCCL: the same global model, every kernel of the round on the GPU (the CUDA
// kernels round like the CPU's within a few ulps), the same on every rank bit for bit.
TEST(ModelAveraging, OnGpusOverNcclAsOnTheHost) {
  const int n_gpus = gpus();
  if (n_gpus == 0) GTEST_SKIP() << "no GPU visible (or no CUDA build): NCCL rounds skipped";
  const Group g{n_gpus, true};
  for (const auto weighting : {esync::Weighting::batch, esync::Weighting::normalized}) {
    const auto want = expected(weighting, g.world);
    for (const bool overlap : {false, true}) {
      const auto res = run(overlap, -1, weighting, g);
      for (int r = 0; r < g.world; ++r) {
        const auto& got = res[static_cast<std::size_t>(r)];
        for (std::size_t j = 0; j < kN; ++j)
          ASSERT_NEAR(got.w[j], want[j], 1e-5f)
              << (overlap ? "overlap" : "sync") << " rank " << r << " at " << j;
        EXPECT_EQ(got.w, res[0].w) << "rank " << r << " differs from rank 0";
        double all = 0;  // the control values went through the GPU's buffer too
        for (int q = 0; q < g.world; ++q) all += samples(q);
        EXPECT_DOUBLE_EQ(got.samples_seen, kRounds * all) << "rank " << r;
      }
    }
  }
}

// SSGD's step: every rank ends with sum_i n_i g_i / sum_i n_i (n_i: its batch), on the host over
// gloo and, where GPUs are visible, on them over NCCL, with the stop vote carried alongside.
TEST(Ssgd, AveragesTheGradientsBySamplesOnTheHostAndOnGpus) {
  namespace k = esync::kernels;
  std::vector<Group> groups{Group{}};
  if (gpus() > 0) groups.push_back(Group{gpus(), true});
  for (const Group& g : groups) {
    double total = 0;
    for (int r = 0; r < g.world; ++r) total += batch(r);
    std::vector<std::vector<float>> got(static_cast<std::size_t>(g.world));
    std::vector<int> stops(static_cast<std::size_t>(g.world));
    on_ranks(
        [&](comm::Collective& c) {
          const k::Place at = g.place(c.rank());
          es::SyncContext ctx;
          ctx.collective = &c, ctx.place = at;
          auto s = es::make_synchronizer("ssgd", ctx);
          std::vector<float> mine(kN + es::control_slots(g.world));
          for (std::size_t j = 0; j < kN; ++j) mine[j] = progress(c.rank(), j);
          k::Buffer grad(at, mine.size());
          grad.from_host(mine);
          es::SyncStats st;
          stops[static_cast<std::size_t>(c.rank())] =
              s->reduce_gradients(nullptr, grad.data(), kN, batch(c.rank()), c.rank() == 0, st);
          got[static_cast<std::size_t>(c.rank())] = grad.to_host();
          EXPECT_DOUBLE_EQ(st.total_samples, total);
        },
        g);
    for (int r = 0; r < g.world; ++r) {
      EXPECT_EQ(stops[static_cast<std::size_t>(r)], 1) << "rank 0's stop vote reaches rank " << r;
      for (std::size_t j = 0; j < kN; ++j) {
        double want = 0;
        for (int q = 0; q < g.world; ++q) want += batch(q) / total * progress(q, j);
        ASSERT_NEAR(got[static_cast<std::size_t>(r)][j], want, 1e-6)
            << (g.gpu ? "gpu" : "host") << " rank " << r;
      }
    }
  }
}

TEST(ModelAveraging, OverlapReportsTheStopVoteOneRoundLater) {
  const auto plain = run(false, 2), over = run(true, 2);
  for (int r = 0; r < kWorld; ++r) {
    const auto& p = plain[static_cast<std::size_t>(r)].stops;
    const auto& o = over[static_cast<std::size_t>(r)].stops;
    EXPECT_EQ(p, (std::vector<bool>{false, false, true, false, false, false})) << "rank " << r;
    EXPECT_EQ(o, (std::vector<bool>{false, false, false, true, false, false})) << "rank " << r;
  }
  // The last round's vote surfaces in settle() when the reduction is still in flight.
  const auto last = run(true, kRounds - 1);
  for (const auto& r : last) EXPECT_TRUE(r.settled_stop);
  for (const auto& r : run(false, kRounds - 1))
    EXPECT_FALSE(r.settled_stop) << "nothing in flight without overlap";
}

// SCAFFOLD against client drift: rank i minimises f_i(w) = |w - b_i|^2 / 2 (its own optimum b_i,
// the job's at the mean of the b_i) with K_i = 1, 2, 3 plain SGD steps a round. Plain averaging
// settles where sum_i (1 - (1 - lr)^K_i) (b_i - w) = 0, away from the mean (the workers with more
// steps pull harder); with the control variates the job's optimum is the fixed point.
TEST(ModelAveraging, ScaffoldRemovesTheDriftOfUnequalLocalSteps) {
  constexpr std::size_t n = 8;
  const auto target = [](int rank, std::size_t j) { return float(rank * 3 + 1) * (j % 2 ? 1.0f : -0.5f); };
  auto final_error = [&](bool scaffold) {
    std::vector<std::vector<float>> out(kWorld);
    on_ranks([&](comm::Collective& c) {
      es::SyncContext ctx;
      ctx.collective = &c, ctx.k_fixed = 3, ctx.weighting = esync::Weighting::batch, ctx.scaffold = scaffold;
      auto s = es::make_synchronizer("local-sgd", ctx);
      std::vector<float> w(n, 0.0f), g(n + es::control_slots(kWorld));
      for (int round = 0; round < 300; ++round) {
        s->begin_round(static_cast<std::uint64_t>(round), w.data(), n, 0.0);
        for (int step = 0; step < steps(c.rank()); ++step) {
          for (std::size_t j = 0; j < n; ++j) g[j] = w[j] - target(c.rank(), j);
          s->correct_gradient(g.data(), n);
          for (std::size_t j = 0; j < n; ++j) w[j] -= 0.1f * g[j];
          s->step_done(static_cast<std::uint64_t>(round), 0.0);
        }
        es::SyncStats st;
        s->end_round(w.data(), n, 64.0 * steps(c.rank()), false, st);
      }
      out[static_cast<std::size_t>(c.rank())] = w;
    });
    double err = 0;
    for (std::size_t j = 0; j < n; ++j) {
      double mean = 0;
      for (int r = 0; r < kWorld; ++r) mean += target(r, j) / kWorld;
      err = std::max(err, std::abs(double(out[0][j]) - mean));
    }
    return err;
  };
  const double plain = final_error(false), corrected = final_error(true);
  std::printf("distance to the job's optimum after 300 rounds: plain %.3g, SCAFFOLD %.3g\n", plain,
              corrected);
  EXPECT_GT(plain, 0.1);
  EXPECT_LT(corrected, 1e-3);
}
