// ModelAveraging (local-SGD's round, ESync's too) on gloo ranks as threads, with and without
// --overlap. Each rank's local progress is a fixed vector per step, independent of w, so both
// variants must end at the same global model: w_0 + R * sum_i n_i (K p_i) / sum_i n_i. Overlap
// only delays when a rank sees it; after settle() every rank holds it bit for bit.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "esync/collective.hpp"
#include "esync/synchronizer.hpp"
#include "test_util.hpp"

namespace comm = esync::comm;
namespace es = esync::sync;
using namespace std::chrono_literals;

namespace {

constexpr int kWorld = 3, kRounds = 6, kSteps = 2;
constexpr std::size_t kN = 1001;

float progress(int rank, std::size_t j) { return 0.001f * float((rank + 1) * (int(j % 7) - 3)); }
double samples(int rank) { return 64.0 * (rank + 1); }

struct RankResult {
  std::vector<float> w;
  std::vector<bool> stops;      // end_round's return, per round
  bool settled_stop = false;    // settle()'s
  double samples_seen = 0;      // total_samples over every call
  double hidden_s = 0;
};

// Runs kRounds rounds on every rank; rank 1 votes stop in round `vote_round`.
std::vector<RankResult> run(bool overlap, int vote_round) {
  std::vector<RankResult> out(kWorld);
  auto store = comm::make_memory_store();
  auto make = [&](int r) {
    comm::CollectiveOptions o;
    o.rank = r, o.size = kWorld, o.timeout = 20s;
    return comm::make_collective(o, store);
  };
  auto body = [&](comm::Collective& c) {
    RankResult& res = out[static_cast<std::size_t>(c.rank())];
    es::SyncContext ctx;
    ctx.collective = &c, ctx.k_fixed = kSteps, ctx.overlap = overlap, ctx.global_lr = 1.0f;
    auto s = es::make_synchronizer("local-sgd", ctx);
    std::vector<float> w(kN, 0.5f);
    for (int round = 0; round < kRounds; ++round) {
      const int k = s->begin_round(static_cast<std::uint64_t>(round), w.data(), kN, 0.0);
      for (int step = 0; step < k; ++step)
        for (std::size_t j = 0; j < kN; ++j) w[j] += progress(c.rank(), j);
      es::SyncStats st;
      res.stops.push_back(s->end_round(w.data(), kN, samples(c.rank()), c.rank() == 1 && round == vote_round, st));
      res.samples_seen += st.total_samples, res.hidden_s += st.hidden_s;
    }
    es::SyncStats st;
    res.settled_stop = s->settle(w.data(), kN, st);
    res.samples_seen += st.total_samples;
    res.w = w;
  };
  esync::test::expect_no_rank_errors(esync::test::run_collective_ranks(kWorld, make, body));
  return out;
}

std::vector<float> expected() {
  double total = 0;
  for (int r = 0; r < kWorld; ++r) total += samples(r);
  std::vector<float> w(kN);
  for (std::size_t j = 0; j < kN; ++j) {
    double avg = 0;
    for (int r = 0; r < kWorld; ++r) avg += samples(r) / total * kSteps * progress(r, j);
    w[j] = static_cast<float>(0.5 + kRounds * avg);
  }
  return w;
}

}  // namespace

TEST(ModelAveraging, SyncAndOverlapReachTheSameGlobalModel) {
  const auto want = expected();
  for (const bool overlap : {false, true}) {
    const auto res = run(overlap, -1);
    for (int r = 0; r < kWorld; ++r) {
      const auto& got = res[static_cast<std::size_t>(r)];
      for (std::size_t j = 0; j < kN; ++j)
        ASSERT_NEAR(got.w[j], want[j], 1e-5f) << "overlap " << overlap << " rank " << r << " element " << j;
      // Every sample counted exactly once, in the round's call or (overlap) the next one.
      EXPECT_DOUBLE_EQ(got.samples_seen, kRounds * (64.0 + 128.0 + 192.0)) << "overlap " << overlap;
      EXPECT_EQ(got.w, res[0].w) << "rank " << r << " differs from rank 0 (overlap " << overlap << ")";
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
  for (const auto& r : run(false, kRounds - 1)) EXPECT_FALSE(r.settled_stop) << "nothing in flight without overlap";
}
