#pragma once
// The shared aggregation, optimiser and delay-compensation kernels. Every kernel exists twice
// with the same signature and semantics: esync::kernels::cpu (OpenMP, vectorised, parallel
// above a size threshold) and esync::kernels::cuda (takes a stream; built when ESYNC_WITH_CUDA).
// Kernels know raw float* only: no torch, no protocol. All sizes are element counts; n == 0
// is a valid no-op everywhere. Inputs and outputs may alias only where stated.
#include <cstddef>
#include <cstdint>

struct CUstream_st;  // cudaStream_t and cudaEvent_t without pulling in the CUDA headers
struct CUevent_st;

namespace esync::kernels {

struct SgdParams {
  float lr = 0.01f;
  float momentum = 0.0f;      // 0: plain SGD, the momentum buffer is unused (may be null)
  float weight_decay = 0.0f;  // L2 term added to the gradient: g + wd * w
  bool nesterov = false;
};

struct AdamParams {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // decoupled (AdamW) when > 0
};

// Delay-adaptive step (seed 000): eta_tau = eta * M / max(M, tau). Host-side scalar rule.
float delay_adaptive_lr(float lr, int workers, std::int64_t staleness);

#define ESYNC_KERNEL_DECLS(...)                                                                            \
  /* out += a * x  (out and x must not overlap) */                                                         \
  void axpy(float* out, float a, const float* x, std::size_t n __VA_ARGS__);                               \
  /* out = sum_k w[k] * xs[k], K inputs; out may alias xs[0] */                                            \
  void weighted_sum(float* out, const float* const* xs, const float* w, int k, std::size_t n __VA_ARGS__); \
  /* x *= a */                                                                                             \
  void scale(float* x, float a, std::size_t n __VA_ARGS__);                                                \
  /* SGD with momentum and weight decay, PyTorch semantics (buf = mu*buf + g'; w -= lr*buf) */             \
  void sgd_update(float* w, const float* g, float* momentum_buf, std::size_t n,                            \
                  const SgdParams& p __VA_ARGS__);                                                         \
  /* Adam/AdamW with bias correction; step counts from 1 */                                                \
  void adam_update(float* w, const float* g, float* m, float* v, std::size_t n, const AdamParams& p,       \
                   std::int64_t step __VA_ARGS__);                                                         \
  /* DC-ASGD: out = g + lambda * g*g*(w - w_bak); out may alias g */                                       \
  void dc_compensate(float* out, const float* g, const float* w, const float* w_bak, std::size_t n,        \
                     float lambda __VA_ARGS__);                                                            \
  /* Adaptive DC-ASGD: ms = m*ms + (1-m)*g*g; out = g + lambda0/sqrt(ms+eps) * g*g*(w-w_bak) */            \
  void dc_compensate_adaptive(float* out, const float* g, const float* w, const float* w_bak, float* ms,   \
                              std::size_t n, float lambda0, float m, float eps __VA_ARGS__);               \
  /* ESync local delta: out = weight * (w_local - w_ref) */                                                \
  void esync_delta(float* out, const float* w_local, const float* w_ref, float weight,                     \
                   std::size_t n __VA_ARGS__);                                                             \
  /* ESync global apply: w = w_ref + global_lr * delta_sum; w may alias w_ref */                           \
  void esync_apply(float* w, const float* w_ref, const float* delta_sum, float global_lr,                  \
                   std::size_t n __VA_ARGS__);                                                             \
  /* Delay-adaptive ASGD step: w -= delay_adaptive_lr(lr, workers, staleness) * g */                       \
  void delay_adaptive_apply(float* w, const float* g, float lr, int workers, std::int64_t staleness,       \
                            std::size_t n __VA_ARGS__);                                                    \
  /* fp32 <-> IEEE fp16 / bfloat16, round to nearest even, NaN and Inf preserved */                        \
  void pack_fp16(std::uint16_t* out, const float* x, std::size_t n __VA_ARGS__);                           \
  void unpack_fp16(float* out, const std::uint16_t* x, std::size_t n __VA_ARGS__);                         \
  void pack_bf16(std::uint16_t* out, const float* x, std::size_t n __VA_ARGS__);                           \
  void unpack_bf16(float* out, const std::uint16_t* x, std::size_t n __VA_ARGS__);

namespace cpu {
ESYNC_KERNEL_DECLS()
// Elements below which the CPU kernels stay on the calling thread (a fork-join costs ~µs).
constexpr std::size_t kParallelThreshold = std::size_t{1} << 18;
}  // namespace cpu

namespace cuda {
using Stream = CUstream_st*;
ESYNC_KERNEL_DECLS(, Stream stream)
// Device helpers for tests and benchmarks (throw esync::Error on any CUDA failure).
int device_count();  // 0 when no driver or no GPU
void* device_alloc(std::size_t bytes);
void device_free(void* p);
void copy_to_device(void* dst, const void* src, std::size_t bytes);
void copy_to_host(void* dst, const void* src, std::size_t bytes);
void copy_device_to_device(void* dst, const void* src, std::size_t bytes, Stream stream);
void synchronize();
// For the dispatch (place.hpp): the calling thread's device, stream-ordered copies in any
// direction and zeroing, waiting for a stream, page-locked host memory for staging.
void set_device(int device);
void copy_async(void* dst, const void* src, std::size_t bytes, Stream stream);
void zero_async(void* p, std::size_t bytes, Stream stream);
void stream_synchronize(Stream stream);
void* pinned_alloc(std::size_t bytes);
void pinned_free(void* p);
// Ordering between streams: a non-blocking stream (it neither waits for nor holds up the legacy
// default stream, so only events order it), an event without timing, recording one on a stream,
// and making a stream wait for the work an event stands for (on the GPU; the host goes on).
using Event = CUevent_st*;
Stream stream_create();
void stream_destroy(Stream stream);
Event event_create();
void event_destroy(Event event);
void event_record(Event event, Stream stream);
void stream_wait_event(Stream stream, Event event);
}  // namespace cuda

#undef ESYNC_KERNEL_DECLS
}  // namespace esync::kernels
