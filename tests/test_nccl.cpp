// The NCCL collective (CUDA builds only): ranks as threads in one process, one GPU per rank,
// meeting through the in-memory store. Buffers are device memory, filled and read back with the
// kernels' device helpers; inputs are small integers in float, so every sum is exact. Tests that
// need more GPUs than are visible skip and say so; the no-GPU and bad-option cases run anywhere.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <iostream>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cuda_gate.hpp"
#include "esync/collective.hpp"
#include "esync/error.hpp"
#include "esync/kernels.hpp"
#include "test_util.hpp"

namespace comm = esync::comm;
namespace cuda = esync::kernels::cuda;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

#define REQUIRE_GPUS(n)                                                                                    \
  do {                                                                                                     \
    const int visible_ = cuda::device_count();                                                             \
    if (visible_ < (n))                                                                                    \
      GTEST_SKIP() << "needs " << (n) << " CUDA device(s), " << visible_ << " visible: NCCL test skipped"; \
  } while (0)

// n floats on the calling thread's current device (make the collective first: it selects it).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n)
      : n_(n), p_(static_cast<float*>(cuda::device_alloc(n * sizeof(float)))) {}
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cuda::device_free(p_); }
  float* data() const { return p_; }
  void upload(const std::vector<float>& h) { cuda::copy_to_device(p_, h.data(), n_ * sizeof(float)); }
  std::vector<float> download() const {
    std::vector<float> h(n_);
    cuda::copy_to_host(h.data(), p_, n_ * sizeof(float));
    return h;
  }

 private:
  std::size_t n_;
  float* p_;
};

comm::CollectiveOptions nccl_options(int rank, int size, int device, std::chrono::milliseconds timeout) {
  comm::CollectiveOptions o;
  o.backend = "nccl";
  o.rank = rank;
  o.size = size;
  o.device = device;
  o.timeout = timeout;
  return o;
}

// Runs body(collective) on `size` ranks as threads, rank r on device device_of(r), and returns
// each rank's error (null where it succeeded). All ranks finish their work before any tears down.
template <typename DeviceOf, typename Body>
std::vector<std::exception_ptr> run_ranks(int size, DeviceOf device_of, Body body,
                                          std::chrono::milliseconds timeout) {
  auto store = comm::make_memory_store();
  auto make = [&](int r) {
    return comm::make_collective(nccl_options(r, size, device_of(r), timeout), store);
  };
  return esync::test::run_collective_ranks(size, make, body);
}

// One rank per GPU; any error fails the test.
template <typename Body>
void run_world(int size, Body body, std::chrono::milliseconds timeout = 30s) {
  esync::test::expect_no_rank_errors(run_ranks(
      size, [](int r) { return r; }, body, timeout));
}

float input(int rank, std::size_t i) { return float((rank + 1) * (int(i % 13) - 6)); }
float expected_sum(int size, std::size_t i) { return float(size * (size + 1) / 2 * (int(i % 13) - 6)); }

// allreduce (three times: consecutive operations must not mix), broadcast from the last rank,
// barrier; every result checked against the known answer.
void allreduce_broadcast_barrier(comm::Collective& c, std::size_t n) {
  const int size = c.size();
  EXPECT_EQ(c.name(), "nccl");
  std::vector<float> h(n);
  for (std::size_t i = 0; i < n; ++i) h[i] = input(c.rank(), i);
  DeviceBuffer d(n);
  d.upload(h);
  c.allreduce_sum(d.data(), n);
  auto out = d.download();
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) wrong += out[i] != expected_sum(size, i);
  EXPECT_EQ(wrong, 0u) << "allreduce on rank " << c.rank();

  c.allreduce_sum(d.data(), n);
  c.allreduce_sum(d.data(), n);
  out = d.download();
  wrong = 0;
  for (std::size_t i = 0; i < n; ++i) wrong += out[i] != float(size * size) * expected_sum(size, i);
  EXPECT_EQ(wrong, 0u) << "repeated allreduce on rank " << c.rank();

  const int root = size - 1;
  std::vector<float> b(n, -1.0f);
  if (c.rank() == root) {
    for (std::size_t i = 0; i < n; ++i) b[i] = float(i % 1000) + 0.5f * float(root);
  }
  d.upload(b);
  c.broadcast(d.data(), n, root);
  out = d.download();
  wrong = 0;
  for (std::size_t i = 0; i < n; ++i) wrong += out[i] != float(i % 1000) + 0.5f * float(root);
  EXPECT_EQ(wrong, 0u) << "broadcast on rank " << c.rank();

  c.barrier();
  c.barrier();
}

const auto kCounts =
    ::testing::Values(std::size_t{0}, std::size_t{1}, std::size_t{1001}, std::size_t{1} << 20);
std::string count_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return "n" + std::to_string(info.param);
}

// --- anywhere, GPU or not -----------------------------------------------------------------

TEST(Nccl, NoGpuIsConfigErrorSayingSo) {
  if (cuda::device_count() > 0)
    GTEST_SKIP() << "a CUDA device is visible: this test covers machines without one";
  try {
    comm::make_collective(nccl_options(0, 1, 0, 5s), comm::make_memory_store());
    ADD_FAILURE() << "make_collective(nccl) succeeded without a GPU";
  } catch (const esync::ConfigError& e) {
    std::cout << "[          ] without a GPU: " << e.what() << " [" << e.where() << "]\n";
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
  }
}

TEST(Nccl, BadDeviceIsConfigError) {
  auto store = comm::make_memory_store();
  EXPECT_THROW(comm::make_collective(nccl_options(0, 1, -1, 5s), store), esync::ConfigError);
  EXPECT_THROW(comm::make_collective(nccl_options(0, 1, cuda::device_count(), 5s), store),
               esync::ConfigError);
}

// --- one GPU ------------------------------------------------------------------------------

class NcclOneRank : public ::testing::TestWithParam<std::size_t> {};

TEST_P(NcclOneRank, AllreduceBroadcastBarrierGiveTheInputBack) {
  REQUIRE_GPUS(1);
  const std::size_t n = GetParam();
  run_world(1, [n](comm::Collective& c) {
    EXPECT_EQ(c.rank(), 0);
    EXPECT_EQ(c.size(), 1);
    allreduce_broadcast_barrier(c, n);
  });
}

INSTANTIATE_TEST_SUITE_P(Counts, NcclOneRank, kCounts, count_name);

TEST(Nccl, HostPointerAndBadRootAreConfigErrorsAndLeaveItUsable) {
  REQUIRE_GPUS(1);
  auto c = comm::make_collective(nccl_options(0, 1, 0, 30s), comm::make_memory_store());
  std::vector<float> host(16, 1.0f);
  EXPECT_THROW(c->allreduce_sum(host.data(), host.size()), esync::ConfigError);
  EXPECT_THROW(c->broadcast(host.data(), host.size(), 0), esync::ConfigError);
  DeviceBuffer d(16);
  d.upload(host);
  EXPECT_THROW(c->broadcast(d.data(), 16, 1), esync::ConfigError);
  EXPECT_THROW(c->broadcast(d.data(), 16, -1), esync::ConfigError);
  c->allreduce_sum(d.data(), 16);  // still usable
  EXPECT_EQ(d.download(), host);
}

// A reduction starts after the work queued on its producer's stream and after nothing else:
// with its producer's stream held, it returns only once the hold ends; with the legacy default
// stream held, one whose producer is a stream of its own completes; a plain allreduce_sum
// (producer: the legacy stream) waits until the hold ends.
TEST(Nccl, AllreduceWaitsForItsProducersStreamOnly) {
  REQUIRE_GPUS(1);
  auto c = comm::make_collective(nccl_options(0, 1, 0, 30s), comm::make_memory_store());
  const std::vector<float> h(1001, 2.0f);
  DeviceBuffer d(h.size());
  d.upload(h);
  c->allreduce_sum(d.data(), h.size());  // NCCL's first call sets up what it sets up lazily
  const cuda::Stream producer = cuda::stream_create();
  {
    esync::test::StreamGate gate(producer, 20s);
    std::atomic<bool> opened{false};
    std::thread opener([&] {
      std::this_thread::sleep_for(300ms);
      opened = true;
      gate.open();
    });
    c->allreduce_sum_after(d.data(), h.size(), producer);
    EXPECT_TRUE(opened) << "the reduction ran before the work queued on its producer's stream";
    opener.join();
  }
  {
    esync::test::StreamGate gate(nullptr, 20s);
    c->allreduce_sum_after(d.data(), h.size(), producer);
    EXPECT_FALSE(gate.expired()) << "the reduction waited for the legacy stream (held for 20 s)";
  }
  {
    esync::test::StreamGate gate(nullptr, 2s);
    c->allreduce_sum(d.data(), h.size());
    EXPECT_TRUE(gate.expired()) << "allreduce_sum ran before the work queued on the legacy stream";
  }
  cuda::stream_destroy(producer);
  EXPECT_EQ(d.download(), h);
}

// Rank 0 of 2 alone: the communicator never forms, and rank 0 gets TimeoutError in about the
// timeout. Rank 1 alone: nobody publishes the unique id, TimeoutError naming the key.
TEST(Nccl, MissingRankTimesOut) {
  REQUIRE_GPUS(1);
  for (int present : {0, 1}) {
    const auto start = Clock::now();
    try {
      comm::make_collective(nccl_options(present, 2, 0, 3s), comm::make_memory_store());
      ADD_FAILURE() << "rank " << present << " of 2 formed a communicator alone";
    } catch (const esync::TimeoutError& e) {
      std::cout << "[          ] rank " << present << " alone: " << e.what() << "\n";
      if (present == 1) {
        EXPECT_NE(std::string(e.what()).find("nccl_id"), std::string::npos) << e.what();
      }
    }
    const auto took = Clock::now() - start;
    EXPECT_GE(took, 2500ms) << "rank " << present;
    EXPECT_LT(took, 20s) << "rank " << present << ": the abort after the timeout took too long";
  }
}

// Two ranks on one GPU: NCCL refuses this ("Duplicate GPU detected") in most versions and may
// accept it in others. Either way the test must end: success with correct sums, or an esync
// error within the timeouts, never a hang.
TEST(Nccl, SecondRankOnTheSameGpuFailsClearlyNotHangs) {
  REQUIRE_GPUS(1);
  constexpr auto kTimeout = 10s;
  const auto start = Clock::now();
  const auto errors = run_ranks(
      2, [](int) { return 0; }, [](comm::Collective& c) { allreduce_broadcast_barrier(c, 1001); }, kTimeout);
  const auto took = Clock::now() - start;
  for (int r = 0; r < 2; ++r) {
    if (!errors[r]) {
      std::cout << "[          ] rank " << r << ": two ranks on one GPU worked\n";
      continue;
    }
    try {
      std::rethrow_exception(errors[r]);
    } catch (const esync::Error& e) {
      std::cout << "[          ] rank " << r << ": " << e.kind() << ": " << e.what() << "\n";
    } catch (const std::exception& e) {
      ADD_FAILURE() << "rank " << r << ": not an esync error: " << e.what();
    }
  }
  // Construction and each operation are bounded by the timeout; allow for the aborts on top.
  EXPECT_LT(took, 3 * kTimeout);
}

// --- two GPUs -----------------------------------------------------------------------------

class NcclTwoRanks : public ::testing::TestWithParam<std::size_t> {};

TEST_P(NcclTwoRanks, AllreduceBroadcastBarrierGiveKnownResults) {
  REQUIRE_GPUS(2);
  const std::size_t n = GetParam();
  run_world(2, [n](comm::Collective& c) { allreduce_broadcast_barrier(c, n); });
}

INSTANTIATE_TEST_SUITE_P(Counts, NcclTwoRanks, kCounts, count_name);

TEST(Nccl, BufferOnAnotherGpuIsConfigError) {
  REQUIRE_GPUS(2);
  auto c = comm::make_collective(nccl_options(0, 1, 1, 30s), comm::make_memory_store());  // on device 1
  DeviceBuffer on1(8);
  std::string err;
  std::thread other([&] {  // a fresh thread's current device is 0
    DeviceBuffer on0(8);
    try {
      c->allreduce_sum(on0.data(), 8);
    } catch (const esync::ConfigError& e) {
      err = e.what();
    }
  });
  other.join();
  EXPECT_NE(err.find("device 1"), std::string::npos) << err;
  c->allreduce_sum(on1.data(), 8);
}

// The peer formed the communicator but never joins the allreduce: TimeoutError after about the
// timeout, then every later call fails at once.
TEST(Nccl, SilentPeerTimesOut) {
  REQUIRE_GPUS(2);
  constexpr auto kTimeout = 8s;  // room for the first CUDA context and NCCL init on both GPUs
  auto store = comm::make_memory_store();
  std::latch met(2);
  std::latch finished(2);
  std::thread peer([&] {
    std::unique_ptr<comm::Collective> c;
    try {
      c = comm::make_collective(nccl_options(1, 2, 1, kTimeout), store);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "rank 1: " << e.what();
    }
    met.arrive_and_wait();
    finished.arrive_and_wait();  // never calls allreduce
  });
  std::unique_ptr<comm::Collective> c;
  try {
    c = comm::make_collective(nccl_options(0, 2, 0, kTimeout), store);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "rank 0: " << e.what();
  }
  met.arrive_and_wait();
  if (c) {
    DeviceBuffer d(1001);
    const auto start = Clock::now();
    try {
      c->allreduce_sum(d.data(), 1001);
      ADD_FAILURE() << "allreduce with a silent peer succeeded";
    } catch (const esync::TimeoutError& e) {
      std::cout << "[          ] silent peer: " << e.what() << "\n";
    }
    const auto took = Clock::now() - start;
    EXPECT_GE(took, kTimeout - 500ms);
    EXPECT_LT(took, kTimeout + 10s);
    const auto again = Clock::now();
    EXPECT_THROW(c->barrier(), esync::Error);  // broken for good, and at once
    EXPECT_LT(Clock::now() - again, 1s);
  }
  finished.arrive_and_wait();
  peer.join();
}

}  // namespace
