// NCCL over device buffers: ring/tree allreduce, broadcast, and a barrier that is an allreduce
// of one float. Rank 0 creates the unique id and publishes it in the Store under
// "<prefix>/nccl_id"; the others fetch it from there, then all ranks build the
// communicator together. Compiled only in CUDA builds (the factory and CMake decide).
//
// Nothing here may block for longer than the timeout, which NCCL does not promise by itself:
//  - The communicator is non-blocking (ncclConfig_t::blocking = 0): ncclCommInitRankConfig and
//    every collective return at once (ncclSuccess or ncclInProgress) and we poll
//    ncclCommGetAsyncError, then cudaStreamQuery on our private stream, until the work is done,
//    NCCL reports an error, or the deadline passes. A missing rank or a silent peer thus ends in
//    ncclCommAbort (which stops the kernels and the bootstrap) and a TimeoutError.
//  - NCCL reports a dead peer as ncclRemoteError or, for a broken socket, ncclSystemError: both
//    become PeerLostError. Any failure aborts the communicator, and every later call throws at
//    once, as with gloo.
//  - Teardown of a healthy communicator is ncclCommFinalize (polled, within the timeout) then
//    ncclCommDestroy; if finalizing does not finish in time the communicator is aborted.
// Written against NCCL 2.28 (non-blocking init needs >= 2.14, ncclGetLastError >= 2.13).
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "esync/collective.hpp"
#include "esync/cuda_check.hpp"
#include "esync/error.hpp"
#include "esync/kernels.hpp"

// NCCL_CHECK, for calls whose failure is not a peer's; CUDA_CHECK is shared.
#define NCCL_CHECK(call)                                                                      \
  do {                                                                                        \
    ncclResult_t res_ = (call);                                                               \
    if (res_ != ncclSuccess)                                                                  \
      ESYNC_THROW(::esync::Error, "NCCL call '" #call "' failed: ", ncclGetErrorString(res_), \
                  ::esync::comm::nccl_last_error(nullptr));                                   \
  } while (0)

namespace esync::comm {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// NCCL's own detail for the last failure ("Duplicate GPU detected : rank 0 and rank 1 ..."),
// as " (detail)" on one line, or "" when it has none.
std::string nccl_last_error(ncclComm_t comm) {
  const char* raw = ncclGetLastError(comm);
  std::string msg = raw ? raw : "";
  for (char& c : msg) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!msg.empty() && msg.back() == ' ') msg.pop_back();
  return msg.empty() ? msg : " (" + msg + ")";
}

// Polling without burning a core on long waits: a few yields for short collectives, then sleeps
// doubling up to 1 ms (that granularity is far below any sensible timeout).
class Backoff {
 public:
  void pause() {
    if (spins_ < 64) {
      ++spins_;
      std::this_thread::yield();
      return;
    }
    std::this_thread::sleep_for(sleep_);
    sleep_ = std::min(sleep_ * 2, std::chrono::microseconds(1000));
  }

 private:
  int spins_ = 0;
  std::chrono::microseconds sleep_{10};
};

// The communicator: aborted on any failure, finalized within the timeout on a normal teardown.
class Comm {
 public:
  Comm(int device, milliseconds timeout) : device_(device), timeout_(timeout) {}
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm() {
    if (!comm_) return;
    cudaSetDevice(device_);
    const ncclResult_t r = ncclCommFinalize(comm_);
    if (r == ncclSuccess || r == ncclInProgress) {
      const auto deadline = Clock::now() + timeout_;
      Backoff backoff;
      ncclResult_t state = ncclInProgress;
      while (ncclCommGetAsyncError(comm_, &state) == ncclSuccess && state == ncclInProgress &&
             Clock::now() < deadline) {
        backoff.pause();
      }
      if (state == ncclSuccess) {
        ncclCommDestroy(comm_);
        return;
      }
    }
    ncclCommAbort(comm_);  // a peer gone or stuck: do not wait for it
  }

  ncclComm_t* out() { return &comm_; }
  ncclComm_t get() const { return comm_; }
  // Stops NCCL's kernels and threads for this communicator; safe while init is still running.
  void abort() {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
  }

 private:
  ncclComm_t comm_ = nullptr;
  int device_;
  milliseconds timeout_;
};

// NCCL's own stream, non-blocking (the legacy default stream neither waits for it nor is waited
// for), and the event that orders it after the caller's stream.
class Stream {
 public:
  Stream() {
    CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking));
    if (const cudaError_t err = cudaEventCreateWithFlags(&after_, cudaEventDisableTiming);
        err != cudaSuccess) {
      cudaStreamDestroy(s_);
      ESYNC_THROW(Error, "CUDA call 'cudaEventCreateWithFlags' failed: ", cudaGetErrorString(err));
    }
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    cudaEventDestroy(after_);
    cudaStreamDestroy(s_);
  }
  cudaStream_t get() const { return s_; }
  // What is queued here from now on runs after the work queued on `producer` so far.
  void follow(cudaStream_t producer) {
    CUDA_CHECK(cudaEventRecord(after_, producer));
    CUDA_CHECK(cudaStreamWaitEvent(s_, after_, 0));
  }

 private:
  cudaStream_t s_ = nullptr;
  cudaEvent_t after_ = nullptr;
};

class DeviceFloat {  // the barrier's one float
 public:
  DeviceFloat() {
    CUDA_CHECK(cudaMalloc(&p_, sizeof(float)));
    if (const cudaError_t err = cudaMemset(p_, 0, sizeof(float)); err != cudaSuccess) {
      cudaFree(p_);  // the destructor does not run for a throwing constructor
      ESYNC_THROW(Error, "CUDA call 'cudaMemset' failed: ", cudaGetErrorString(err));
    }
  }
  DeviceFloat(const DeviceFloat&) = delete;
  DeviceFloat& operator=(const DeviceFloat&) = delete;
  ~DeviceFloat() { cudaFree(p_); }
  float* get() const { return p_; }

 private:
  float* p_ = nullptr;
};

// Checks the device first (a clear message without a GPU) and makes it current; runs before
// any member that allocates on it.
int select_device(int device) {
  if (device < 0) ESYNC_THROW(ConfigError, "nccl: device ", device, " is not a CUDA device ordinal");
  const int count = kernels::cuda::device_count();
  if (count == 0) ESYNC_THROW(ConfigError, "nccl: no CUDA device visible");
  if (device >= count) {
    ESYNC_THROW(ConfigError, "nccl: device ", device, " is not visible (", count, " CUDA device",
                count == 1 ? "" : "s", ")");
  }
  CUDA_CHECK(cudaSetDevice(device));
  return device;
}

class NcclCollective final : public Collective {
 public:
  NcclCollective(const CollectiveOptions& opts, std::shared_ptr<Store> store)
      : rank_(opts.rank),
        size_(opts.size),
        device_(select_device(opts.device)),
        timeout_(opts.timeout),
        comm_(device_, timeout_) {
    const auto deadline = Clock::now() + timeout_;
    const std::string key = opts.prefix + "/nccl_id";
    ncclUniqueId id;
    if (rank_ == 0) {
      NCCL_CHECK(ncclGetUniqueId(&id));
      store->set(key, std::vector<char>(id.internal, id.internal + sizeof(id.internal)));
    } else {
      std::vector<char> bytes;
      try {
        bytes = store->get(key, timeout_);
      } catch (const TimeoutError& e) {
        ESYNC_THROW(TimeoutError, context("rendezvous"),
                    "waited for rank 0 to publish the NCCL unique id: ", e.what());
      }
      if (bytes.size() != sizeof(id.internal)) {
        ESYNC_THROW(ProtocolError, context("rendezvous"), "the NCCL unique id under '", key, "' has ",
                    bytes.size(), " bytes, expected ", sizeof(id.internal));
      }
      std::memcpy(id.internal, bytes.data(), sizeof(id.internal));
    }

    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const ncclResult_t started = ncclCommInitRankConfig(comm_.out(), size_, id, rank_, &config);
    if (started != ncclSuccess && started != ncclInProgress) fail("init", started);
    wait("init", deadline, /*stream=*/false,
         [&] { return detail::concat("all ", size_, " ranks to join the communicator"); });
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "nccl"; }

  void allreduce_sum(float* data, std::size_t n) override { allreduce_sum_after(data, n, nullptr); }

  void allreduce_sum_after(float* data, std::size_t n, cudaStream_t producer) override {
    ensure_usable("allreduce_sum");
    if (n == 0) return;
    check_device_pointer("allreduce_sum", data);
    run("allreduce_sum", n, producer,
        [&] { return ncclAllReduce(data, data, n, ncclFloat, ncclSum, comm_.get(), stream_.get()); });
  }

  void broadcast(float* data, std::size_t n, int root) override {
    if (root < 0 || root >= size_) {
      ESYNC_THROW(ConfigError, "nccl broadcast: root ", root, " is not in a world of size ", size_);
    }
    ensure_usable("broadcast");
    if (n == 0) return;
    check_device_pointer("broadcast", data);
    run("broadcast", n, nullptr,
        [&] { return ncclBroadcast(data, data, n, ncclFloat, root, comm_.get(), stream_.get()); });
  }

  void barrier() override {
    ensure_usable("barrier");
    run("barrier", 1, nullptr, [&] {
      return ncclAllReduce(one_.get(), one_.get(), 1, ncclFloat, ncclSum, comm_.get(), stream_.get());
    });
  }

 private:
  std::string context(const char* what) const {
    return detail::concat("nccl ", what, " (rank ", rank_, " of ", size_, ", device ", device_, ", timeout ",
                          timeout_.count(), " ms): ");
  }

  void ensure_usable(const char* what) {
    if (failed_) {
      ESYNC_THROW(Error, "nccl ", what, " on rank ", rank_, ": this collective already failed (", broken_,
                  "); build a new one");
    }
    CUDA_CHECK(cudaSetDevice(device_));
  }

  // A host pointer handed to NCCL is an illegal memory access that poisons the whole CUDA
  // context; refuse it here, with the collective still usable.
  void check_device_pointer(const char* what, const float* data) const {
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, data) != cudaSuccess) {
      (void)cudaGetLastError();
      attr.type = cudaMemoryTypeUnregistered;
    }
    const bool on_device = attr.type == cudaMemoryTypeDevice && attr.device == device_;
    if (!on_device && attr.type != cudaMemoryTypeManaged) {
      ESYNC_THROW(ConfigError, "nccl ", what, ": data is not device memory of CUDA device ", device_,
                  attr.type == cudaMemoryTypeDevice ? detail::concat(" (it is on device ", attr.device, ")")
                                                    : std::string(" (host memory?)"));
    }
  }

  // Enqueues one NCCL operation after the work queued on `producer` and waits, within the
  // timeout, until it has completed.
  template <typename Enqueue>
  void run(const char* what, std::size_t n, cudaStream_t producer, Enqueue&& enqueue) {
    const auto deadline = Clock::now() + timeout_;
    stream_.follow(producer);
    const ncclResult_t r = enqueue();
    if (r != ncclSuccess && r != ncclInProgress) fail(what, r);
    wait(what, deadline, /*stream=*/true,
         [&] { return detail::concat("the other ranks to complete this ", what, " of ", n, " floats"); });
  }

  // Polls until NCCL is done with the last call (and, for operations, the stream is idle).
  // awaited() says what a timeout waited for.
  template <typename Awaited>
  void wait(const char* what, Clock::time_point deadline, bool stream, Awaited&& awaited) {
    Backoff backoff;
    for (;;) {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t q = ncclCommGetAsyncError(comm_.get(), &state);
      if (q != ncclSuccess) fail(what, q);
      if (state != ncclSuccess && state != ncclInProgress) fail(what, state);
      if (state == ncclSuccess) {
        if (!stream) return;
        const cudaError_t s = cudaStreamQuery(stream_.get());
        if (s == cudaSuccess) return;
        if (s != cudaErrorNotReady) {
          (void)cudaGetLastError();
          broken<Error>(what, detail::concat("CUDA stream failed: ", cudaGetErrorString(s)));
        }
      }
      if (Clock::now() >= deadline) {
        broken<TimeoutError>(what,
                             detail::concat("timed out waiting for ", awaited(), "; communicator aborted"));
      }
      backoff.pause();
    }
  }

  [[noreturn]] void fail(const char* what, ncclResult_t r) {
    const std::string msg = detail::concat(ncclGetErrorString(r), nccl_last_error(comm_.get()));
    if (r == ncclRemoteError || r == ncclSystemError) broken<PeerLostError>(what, msg);
    broken<Error>(what, msg);
  }

  // Aborts the communicator, remembers why, and throws an exception of the given type.
  template <typename E>
  [[noreturn]] void broken(const char* what, const std::string& why) {
    comm_.abort();
    failed_ = true;
    broken_ = why;
    ESYNC_THROW(E, context(what), why);
  }

  int rank_, size_, device_;
  milliseconds timeout_;
  // Destroyed in reverse: the communicator before the stream and buffer it may still use.
  Stream stream_;
  DeviceFloat one_;
  Comm comm_;
  bool failed_ = false;
  std::string broken_;  // why it failed, for the message of every later call
};

}  // namespace

std::unique_ptr<Collective> make_nccl_collective(const CollectiveOptions& opts,
                                                 std::shared_ptr<Store> store) {
  return std::make_unique<NcclCollective>(opts, std::move(store));
}

}  // namespace esync::comm
