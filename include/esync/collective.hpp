#pragma once
// The collectives layer: one small interface over gloo (CPU or mixed groups)
// and, when CUDA is built, NCCL. A synchronisation is one flat float buffer handed to
// allreduce_sum / broadcast, so the interface knows nothing of models or training. Ranks meet
// through a key-value Store: in-process for tests, the coordinator's KV messages in a job.
//
// Every call blocks for at most CollectiveOptions::timeout. Failures surface as esync
// exceptions: TimeoutError (rendezvous key missing, peer silent), PeerLostError (a connection
// closed or reset), Error (anything else). After any failure the Collective is broken: every
// later call throws at once, and the caller builds a new one under a fresh prefix.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "esync/work.hpp"

struct CUstream_st;  // cudaStream_t, as in kernels.hpp

namespace esync::comm {

// Key-value rendezvous store. Keys are written once; values are opaque bytes.
class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const std::vector<char>& value) = 0;
  // Blocks until the key exists or the timeout passes; throws esync::TimeoutError naming the key.
  virtual std::vector<char> get(const std::string& key, std::chrono::milliseconds timeout) = 0;
};

// In-process and thread-safe: the store for tests that run ranks as threads.
std::shared_ptr<Store> make_memory_store();

// Where the buffers live depends on the backend: gloo: host memory; nccl: device memory of
// CollectiveOptions::device (cudaMalloc'd or managed; a host pointer is refused with a
// ConfigError). nccl calls are synchronous for the caller like gloo's: they run on a
// non-blocking stream of their own, ordered by an event after the work queued so far on the
// caller's stream (the legacy default stream, LibTorch's, unless allreduce_sum_after names
// another), and return when the result is in `data`. Work queued later on any stream therefore
// sees the result, and the GPU never holds other streams' work for the reduction.
// nccl calls make CollectiveOptions::device the calling thread's current CUDA device.
class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place: data becomes the element-wise sum over all ranks. n == 0 is a no-op.
  virtual void allreduce_sum(float* data, std::size_t n) = 0;
  // The same for data that GPU work queued on `producer` (a CUDA stream; null: the legacy default
  // stream) writes and nobody has waited for: nccl starts the reduction after that work. gloo's
  // data is host memory, written before the call: it ignores the stream.
  virtual void allreduce_sum_after(float* data, std::size_t n, CUstream_st* producer) {
    allreduce_sum(data, n);
  }
  // The same in the background (work.hpp); data is the collective's, and no other call may be
  // made on this Collective, until the handle's wait returned. This default runs allreduce_sum
  // on a thread of its own; a backend with asynchronous calls of its own may override it.
  virtual Work<void> allreduce_sum_async(float* data, std::size_t n);
  // In place: every rank's data becomes root's. n == 0 is a no-op.
  virtual void broadcast(float* data, std::size_t n, int root) = 0;
  virtual void barrier() = 0;
  virtual std::string name() const = 0;
};

struct CollectiveOptions {
  std::string backend = "gloo";  // "gloo", or "nccl" in CUDA builds
  int rank = 0;
  int size = 1;
  std::string bind_host = "127.0.0.1";  // the address peers connect to; loopback unless told
  // Namespace for this group's keys in the store: groups rebuilt after a failure, or several
  // groups over one store, must each use their own prefix.
  std::string prefix = "comm";
  std::chrono::milliseconds timeout{30000};  // rendezvous and every operation
  // gloo: the wait for the peers' addresses alone, when shorter (0: `timeout`). A group re-formed
  // after a loss meets fast or not at all: a member lost again is not worth the whole timeout.
  std::chrono::milliseconds rendezvous_timeout{0};
  // nccl only: the CUDA device ordinal this rank runs on (one rank per device). NCCL picks its
  // own network interface (NCCL_SOCKET_IFNAME), so bind_host is gloo's only.
  int device = 0;
};

// Picks the backend by name; an unknown or unbuilt backend throws esync::ConfigError.
// Blocks until all `size` ranks have met through the store (or the timeout passes).
std::unique_ptr<Collective> make_collective(const CollectiveOptions& opts, std::shared_ptr<Store> store);

// The backend a training group of workers on `devices` uses. Each device is "cpu", "cuda" or
// "cuda:N", optionally after "HOST/" (workers of several hosts: the same GPU ordinal on two hosts
// is two GPUs). "auto": nccl when every worker has a GPU of its own and this build has NCCL,
// else gloo (GPU workers then reduce through pinned host copies); "nccl" where it cannot serve
// is a ConfigError that says why.
std::string resolve_backend(const std::string& requested, const std::vector<std::string>& devices);

}  // namespace esync::comm
