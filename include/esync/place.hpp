#pragma once
// Where a flat buffer lives, and the kernels of kernels.hpp dispatched by it. A Place is host
// memory (the CPU kernels) or one GPU with a stream (the CUDA kernels): the optimiser, the
// model-averaging and compensation kernels and the staging copies take the Place of the buffer
// they work on, so one call site serves a CPU worker and a GPU worker alike.
// The stream defaults to the legacy default stream, the one LibTorch's operators use unless told
// otherwise, so a kernel queued here is ordered after the backward pass that wrote its gradient
// with no event or synchronisation in between.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "esync/kernels.hpp"

namespace esync::kernels {

struct Place {
  int cuda_device = -1;           // -1: host memory
  cuda::Stream stream = nullptr;  // CUDA only; null: the legacy default stream
  bool is_cuda() const { return cuda_device >= 0; }
  std::string name() const { return is_cuda() ? "cuda:" + std::to_string(cuda_device) : "cpu"; }
  static Place host() { return {}; }
  static Place gpu(int device) { return Place{device, nullptr}; }
  bool operator==(const Place& o) const { return cuda_device == o.cuda_device && stream == o.stream; }
};

// Whether this binary has the CUDA kernels (ESYNC_WITH_CUDA); a CUDA Place needs them.
bool cuda_built();
// The Place a device name means: "cpu", "cuda" (the first GPU) or "cuda:N". flag: how the user
// named it ("--device"), for the ConfigError any other name gets. Says nothing of whether the
// GPU exists.
Place parse_place(const std::string& device, const std::string& flag);

// n floats at a Place, zeroed; move-only. Host buffers are plain memory.
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Place& place, std::size_t n);
  ~Buffer();
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    Buffer t(std::move(o));
    swap(t);
    return *this;
  }
  float* data() { return p_; }
  const float* data() const { return p_; }
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const Place& place() const { return place_; }
  // Host copies for checkpoints (waits for the copy).
  std::vector<float> to_host() const;
  void from_host(const std::vector<float>& v);

 private:
  void swap(Buffer& o) noexcept { std::swap(place_, o.place_), std::swap(p_, o.p_), std::swap(n_, o.n_); }
  Place place_;
  float* p_ = nullptr;
  std::size_t n_ = 0;
};

// n floats of host memory that a GPU at `for_place` copies to and from at full speed:
// page-locked (cudaHostAlloc) for a CUDA Place, plain memory otherwise. Zeroed; move-only.
class HostBuffer {
 public:
  HostBuffer() = default;
  HostBuffer(const Place& for_place, std::size_t n);
  ~HostBuffer();
  HostBuffer(HostBuffer&& o) noexcept { swap(o); }
  HostBuffer& operator=(HostBuffer&& o) noexcept {
    HostBuffer t(std::move(o));
    swap(t);
    return *this;
  }
  float* data() { return p_; }
  std::size_t size() const { return n_; }
  bool pinned() const { return device_ >= 0; }

 private:
  void swap(HostBuffer& o) noexcept {
    std::swap(p_, o.p_), std::swap(n_, o.n_), std::swap(device_, o.device_);
  }
  float* p_ = nullptr;
  std::size_t n_ = 0;
  int device_ = -1;  // the GPU it is page-locked for; -1: plain memory
};

// A stream of its own on a Place's GPU, for work that runs beside the Place's stream: the
// reduction --overlap leaves in flight while LibTorch's next steps run on the legacy default
// stream. Non-blocking, so neither stream waits for the other except where follow() says: the
// two interleave on the GPU. For a host Place it is that host Place, and follow() does nothing.
class SideStream {
 public:
  SideStream() = default;
  explicit SideStream(const Place& of);
  ~SideStream();
  SideStream(SideStream&& o) noexcept { swap(o); }
  SideStream& operator=(SideStream&& o) noexcept {
    SideStream t(std::move(o));
    swap(t);
    return *this;
  }
  // The Place of the side stream: the same device, the stream of its own.
  const Place& place() const { return side_; }
  // Work queued on the side stream from now on runs after the work queued on `p` so far (an
  // event recorded on p's stream); the calling thread does not wait.
  void follow(const Place& p);

 private:
  void make_stream();
  void swap(SideStream& o) noexcept { std::swap(side_, o.side_), std::swap(event_, o.event_); }
  Place side_;
  cuda::Event event_ = nullptr;
};

// Copies n floats between any two of: host memory, pinned host memory, the Place's GPU, queued
// on the Place's stream (a host Place copies at once). wait() makes a queued copy visible.
void copy(const Place& p, float* dst, const float* src, std::size_t n);
void zero(const Place& p, float* x, std::size_t n);
// Returns when the work queued on the Place has finished (nothing to do on the host).
void wait(const Place& p);

// The kernels of kernels.hpp, on the Place's memory and stream. Same semantics and aliasing.
void axpy(const Place& p, float* out, float a, const float* x, std::size_t n);
void weighted_sum(const Place& p, float* out, const float* const* xs, const float* w, int k, std::size_t n);
void scale(const Place& p, float* x, float a, std::size_t n);
void sgd_update(const Place& p, float* w, const float* g, float* momentum_buf, std::size_t n,
                const SgdParams& sp);
void adam_update(const Place& p, float* w, const float* g, float* m, float* v, std::size_t n,
                 const AdamParams& ap, std::int64_t step);
void dc_compensate(const Place& p, float* out, const float* g, const float* w, const float* w_bak,
                   std::size_t n, float lambda);
void dc_compensate_adaptive(const Place& p, float* out, const float* g, const float* w, const float* w_bak,
                            float* ms, std::size_t n, float lambda0, float m, float eps);
void esync_delta(const Place& p, float* out, const float* w_local, const float* w_ref, float weight,
                 std::size_t n);
void esync_apply(const Place& p, float* w, const float* w_ref, const float* delta_sum, float global_lr,
                 std::size_t n);
void delay_adaptive_apply(const Place& p, float* w, const float* g, float lr, int workers,
                          std::int64_t staleness, std::size_t n);
void pack_fp16(const Place& p, std::uint16_t* out, const float* x, std::size_t n);
void unpack_fp16(const Place& p, float* out, const std::uint16_t* x, std::size_t n);
void pack_bf16(const Place& p, std::uint16_t* out, const float* x, std::size_t n);
void unpack_bf16(const Place& p, float* out, const std::uint16_t* x, std::size_t n);

}  // namespace esync::kernels
