// Collectives: N ranks as threads in one process, meeting through the in-memory store and
// talking gloo over 127.0.0.1. Inputs are small integers in float, so every sum is exact and
// compared with ==. Failure paths (missing rank, dead peer) must end in typed errors, not hangs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <iostream>
#include <latch>
#include <thread>
#include <tuple>
#include <vector>

#include "esync/collective.hpp"
#include "esync/config.h"
#include "esync/error.hpp"
#include "test_util.hpp"

namespace comm = esync::comm;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Runs body(collective) on `size` gloo ranks as threads and fails the test with each rank's error.
template <typename Body>
void run_world(int size, Body body, std::chrono::milliseconds timeout = 20s) {
  auto store = comm::make_memory_store();
  auto make = [&](int r) {
    comm::CollectiveOptions o;
    o.rank = r;
    o.size = size;
    o.timeout = timeout;
    return comm::make_collective(o, store);
  };
  esync::test::expect_no_rank_errors(esync::test::run_collective_ranks(size, make, body));
}

float input(int rank, std::size_t i) { return float((rank + 1) * (int(i % 13) - 6)); }
float expected_sum(int size, std::size_t i) { return float(size * (size + 1) / 2 * (int(i % 13) - 6)); }

class CommWorld : public ::testing::TestWithParam<std::tuple<int, std::size_t>> {};

TEST_P(CommWorld, AllreduceBroadcastBarrier) {
  const auto [size, n] = GetParam();
  run_world(size, [size = size, n = n](comm::Collective& c) {
    EXPECT_EQ(c.size(), size);
    EXPECT_EQ(c.name(), "gloo");
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = input(c.rank(), i);
    c.allreduce_sum(v.data(), n);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i) wrong += v[i] != expected_sum(size, i);
    EXPECT_EQ(wrong, 0u) << "allreduce on rank " << c.rank();

    // Twice more on the result: consecutive operations must not mix up their messages.
    c.allreduce_sum(v.data(), n);
    c.allreduce_sum(v.data(), n);
    wrong = 0;
    for (std::size_t i = 0; i < n; ++i) wrong += v[i] != float(size * size) * expected_sum(size, i);
    EXPECT_EQ(wrong, 0u) << "repeated allreduce on rank " << c.rank();

    const int root = size - 1;  // non-zero whenever there is more than one rank
    std::vector<float> b(n, -1.0f);
    if (c.rank() == root) {
      for (std::size_t i = 0; i < n; ++i) b[i] = float(i % 1000) + 0.5f * float(root);
    }
    c.broadcast(b.data(), n, root);
    wrong = 0;
    for (std::size_t i = 0; i < n; ++i) wrong += b[i] != float(i % 1000) + 0.5f * float(root);
    EXPECT_EQ(wrong, 0u) << "broadcast on rank " << c.rank();

    c.barrier();
  });
}

// gloo's allreduce runs bcube up to 512 KiB (2^17 floats) with more than 2 ranks, the ring above.
INSTANTIATE_TEST_SUITE_P(SizesTimesCounts, CommWorld,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4, 8),
                                            ::testing::Values(std::size_t{0}, std::size_t{1},
                                                              std::size_t{1001}, std::size_t{1} << 17,
                                                              std::size_t{1} << 20)),
                         [](const auto& info) {
                           return "p" + std::to_string(std::get<0>(info.param)) + "_n" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(Comm, BarrierHoldsEveryoneUntilAllArrive) {
  constexpr int kSize = 4;
  std::atomic<int> arrived{0};
  run_world(kSize, [&](comm::Collective& c) {
    for (int round = 1; round <= 3; ++round) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10 * c.rank()));  // stagger arrivals
      arrived.fetch_add(1);
      c.barrier();
      EXPECT_GE(arrived.load(), round * kSize)
          << "rank " << c.rank() << " left barrier " << round << " early";
      c.barrier();  // nobody starts the next round's count before everyone has checked this one
    }
  });
}

TEST(Comm, BadOptionsAreConfigErrors) {
  auto store = comm::make_memory_store();
  comm::CollectiveOptions o;
  o.backend = "carrier-pigeon";
  EXPECT_THROW(comm::make_collective(o, store), esync::ConfigError);
  o.backend = "gloo";
  o.rank = 2;
  o.size = 2;
  EXPECT_THROW(comm::make_collective(o, store), esync::ConfigError);
  o.rank = 0;
  EXPECT_THROW(comm::make_collective(o, nullptr), esync::ConfigError);
  o.size = 1;
  auto c = comm::make_collective(o, store);
  float x = 3.0f;
  EXPECT_THROW(c->broadcast(&x, 1, 1), esync::ConfigError);
  c->broadcast(&x, 1, 0);
  EXPECT_EQ(x, 3.0f);
}

#if !ESYNC_WITH_CUDA  // with CUDA, "nccl" is a real backend and needs a GPU to test
TEST(Comm, NcclWithoutCudaIsConfigError) {
  comm::CollectiveOptions o;
  o.backend = "nccl";
  EXPECT_THROW(comm::make_collective(o, comm::make_memory_store()), esync::ConfigError);
}
#endif

// An all-GPU group, one rank per GPU, reduces with NCCL in a CUDA build; any other group over
// gloo (its GPU workers through pinned host copies). Asking for NCCL where it cannot serve is
// refused with the reason; an unknown name too.
TEST(Comm, TrainingGroupsResolveToNcclOnlyWithOneGpuPerRank) {
  const std::string all_gpus = ESYNC_WITH_CUDA ? "nccl" : "gloo";
  EXPECT_EQ(comm::resolve_backend("auto", {"cuda:0", "cuda:1"}), all_gpus);
  EXPECT_EQ(comm::resolve_backend("auto", {"cuda"}), all_gpus);
  EXPECT_EQ(comm::resolve_backend("auto", {"10.0.0.1/cuda:0", "10.0.0.2/cuda:0"}), all_gpus);
  EXPECT_EQ(comm::resolve_backend("auto", {"cuda:0", "cpu"}), "gloo");
  EXPECT_EQ(comm::resolve_backend("auto", {"cuda:0", "cuda:0"}), "gloo");
  EXPECT_EQ(comm::resolve_backend("auto", {"h/cuda", "h/cuda:0"}), "gloo");
  EXPECT_EQ(comm::resolve_backend("gloo", {"cuda:0", "cuda:1"}), "gloo");
  const auto refused = [](const std::vector<std::string>& devices, const std::string& why) {
    try {
      comm::resolve_backend("nccl", devices);
      FAIL() << "nccl accepted for " << devices.size() << " workers";
    } catch (const esync::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  refused({"cuda:0", "cpu"}, "worker on cpu");
  refused({"cuda:1", "cuda:1"}, "two workers on cuda:1");
#if ESYNC_WITH_CUDA
  EXPECT_EQ(comm::resolve_backend("nccl", {"cuda:0", "cuda:1"}), "nccl");
#else
  refused({"cuda:0", "cuda:1"}, "no CUDA");
#endif
  EXPECT_THROW(comm::resolve_backend("mpi", {"cpu"}), esync::ConfigError);
}

TEST(Comm, MemoryStoreGetTimesOutNamingTheKey) {
  auto store = comm::make_memory_store();
  store->set("a", {'x', 'y'});
  EXPECT_EQ(store->get("a", 0ms), (std::vector<char>{'x', 'y'}));
  std::thread late([&] {
    std::this_thread::sleep_for(50ms);
    store->set("late", {'z'});
  });
  EXPECT_EQ(store->get("late", 5s), (std::vector<char>{'z'}));
  late.join();
  try {
    store->get("never", 50ms);
    FAIL() << "no timeout";
  } catch (const esync::TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("'never'"), std::string::npos) << e.what();
  }
}

// Ranks 0..size-2 show up, the last never does: each present rank gets TimeoutError in about
// the timeout, instead of waiting forever.
TEST(Comm, MissingRankTimesOut) {
  for (int size : {2, 3}) {
    auto store = comm::make_memory_store();
    std::vector<std::thread> ranks;
    std::atomic<int> timeouts{0};
    const auto start = Clock::now();
    for (int r = 0; r < size - 1; ++r) {
      ranks.emplace_back([&, r] {
        comm::CollectiveOptions o;
        o.rank = r;
        o.size = size;
        o.timeout = 500ms;
        try {
          comm::make_collective(o, store);
        } catch (const esync::TimeoutError& e) {
          if (++timeouts == 1) std::cout << "[          ] missing rank: " << e.what() << "\n";
        } catch (const std::exception& e) {
          ADD_FAILURE() << "rank " << r << " of " << size << ": wrong error: " << e.what();
        }
      });
    }
    for (auto& t : ranks) t.join();
    EXPECT_EQ(timeouts.load(), size - 1) << "world of " << size;
    EXPECT_LT(Clock::now() - start, 5s) << "world of " << size;
  }
}

// One rank goes away after the rendezvous; the survivor's next allreduce fails with a typed
// error well before any default timeout, and every later call fails at once.
TEST(Comm, DeadPeerSurfacesAsTypedError) {
  auto store = comm::make_memory_store();
  std::latch met(2);
  std::latch gone(2);
  std::thread peer([&] {
    comm::CollectiveOptions o;
    o.rank = 1;
    o.size = 2;
    o.timeout = 2s;
    {
      auto c = comm::make_collective(o, store);
      met.arrive_and_wait();
    }  // the peer's sockets close here
    gone.count_down();
  });
  comm::CollectiveOptions o;
  o.size = 2;
  o.timeout = 2s;
  auto c = comm::make_collective(o, store);
  met.arrive_and_wait();
  gone.arrive_and_wait();
  std::vector<float> v(1001, 1.0f);
  const auto start = Clock::now();
  try {
    c->allreduce_sum(v.data(), v.size());
    ADD_FAILURE() << "allreduce with a dead peer succeeded";
  } catch (const esync::PeerLostError& e) {
    std::cout << "[          ] dead peer surfaced as PeerLostError: " << e.what() << "\n";
  } catch (const esync::TimeoutError& e) {
    std::cout << "[          ] dead peer surfaced as TimeoutError: " << e.what() << "\n";
  }
  EXPECT_LT(Clock::now() - start, 4s);
  EXPECT_THROW(c->barrier(), esync::Error);  // broken for good
  peer.join();
}

// The peer is alive but never joins the operation (a hung process): the survivor gets
// TimeoutError after about the timeout, not a hang.
TEST(Comm, SilentPeerTimesOut) {
  auto store = comm::make_memory_store();
  std::latch met(2);
  std::latch finished(2);
  std::thread peer([&] {
    comm::CollectiveOptions o;
    o.rank = 1;
    o.size = 2;
    o.timeout = 500ms;
    auto c = comm::make_collective(o, store);
    met.arrive_and_wait();
    finished.arrive_and_wait();  // stays connected, never calls allreduce
  });
  comm::CollectiveOptions o;
  o.size = 2;
  o.timeout = 500ms;
  auto c = comm::make_collective(o, store);
  met.arrive_and_wait();
  std::vector<float> v(1001, 1.0f);
  const auto start = Clock::now();
  try {
    c->allreduce_sum(v.data(), v.size());
    ADD_FAILURE() << "allreduce with a silent peer succeeded";
  } catch (const esync::TimeoutError& e) {
    std::cout << "[          ] silent peer surfaced as TimeoutError: " << e.what() << "\n";
  }
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 400ms);
  EXPECT_LT(took, 120s);  // it ended (a loaded host may take longer than the 0.5 s, never forever)
  finished.arrive_and_wait();
  peer.join();
}

TEST(Comm, AsyncAllreduceGivesTheSumWhileTheCallerWorks) {
  constexpr int kSize = 3;
  run_world(kSize, [&](comm::Collective& c) {
    for (int round = 0; round < 3; ++round) {
      std::vector<float> v(100003);
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = input(c.rank(), i) * float(round + 1);
      comm::Work<void> work = c.allreduce_sum_async(v.data(), v.size());
      EXPECT_TRUE(work.valid());
      double busy = 0;  // the caller goes on while the reduction runs
      for (int i = 0; i < 100000; ++i) busy += i * 0.5;
      EXPECT_GT(busy, 0);
      work.wait(60s);
      EXPECT_FALSE(work.valid());
      for (std::size_t i = 0; i < v.size(); ++i)
        ASSERT_EQ(v[i], expected_sum(kSize, i) * float(round + 1)) << "rank " << c.rank() << " index " << i;
    }
  });
}

TEST(Work, WaitTimesOutNamingTheWorkThenStillGetsTheResult) {
  std::latch release(1);
  comm::Work<int> w = comm::start_async<int>("the test's blocked work", [&] {
    release.wait();
    return 42;
  });
  EXPECT_FALSE(w.completed());
  try {
    w.wait(50ms);
    ADD_FAILURE() << "wait returned while the work was blocked";
  } catch (const esync::TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("the test's blocked work"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(w.valid());  // still in flight, still waitable
  release.count_down();
  EXPECT_EQ(w.wait(60s), 42);
}

TEST(Work, RethrowsTheWorksOwnError) {
  comm::Work<void> w =
      comm::start_async<void>("failing work", [] { ESYNC_THROW(esync::PeerLostError, "peer 2 gone"); });
  EXPECT_THROW(w.wait(60s), esync::PeerLostError);
}

}  // namespace
