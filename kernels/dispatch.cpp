// The Place dispatch (place.hpp): each call runs the CPU kernel for host memory and the CUDA
// kernel, on the Place's device and stream, for GPU memory. A build without CUDA refuses a GPU
// Place in one line instead of touching a device pointer on the host.
#include <cstring>

#include "esync/config.h"
#include "esync/error.hpp"
#include "esync/place.hpp"

namespace esync::kernels {

bool cuda_built() { return ESYNC_WITH_CUDA != 0; }

Place parse_place(const std::string& device, const std::string& flag) {
  if (device == "cpu") return Place::host();
  if (device == "cuda") return Place::gpu(0);
  const std::string num = device.rfind("cuda:", 0) == 0 ? device.substr(5) : "";
  ESYNC_CHECK_T(ConfigError,
                !num.empty() && num.size() < 6 && num.find_first_not_of("0123456789") == std::string::npos,
                flag, " ", device, ": not a device (cpu, cuda or cuda:N)");
  return Place::gpu(std::stoi(num));
}

#if !ESYNC_WITH_CUDA
// What callers outside the dispatch may ask a CPU-only build (kernels/cuda/device.cu otherwise).
int cuda::device_count() { return 0; }

namespace {

[[noreturn]] void no_cuda(const Place& p) {
  ESYNC_THROW(ConfigError, "a buffer on ", p.name(), " needs the CUDA kernels, and this build has none ",
              "(configure with nvcc available, README \"GPU hosts\")");
}

}  // namespace
#endif

// ON_PLACE(p, cpu call, cuda call): the CUDA call sees `p.stream` as its last argument.
#if ESYNC_WITH_CUDA
#define ON_PLACE(p, CPU, CUDA)         \
  do {                                 \
    if (!(p).is_cuda()) {              \
      CPU;                             \
    } else {                           \
      cuda::set_device(p.cuda_device); \
      CUDA;                            \
    }                                  \
  } while (0)
#else
#define ON_PLACE(p, CPU, CUDA)     \
  do {                             \
    if ((p).is_cuda()) no_cuda(p); \
    CPU;                           \
  } while (0)
#endif

Buffer::Buffer(const Place& place, std::size_t n) : place_(place), n_(n) {
  if (n == 0) return;
  ON_PLACE(
      place, p_ = new float[n](),
      (p_ = static_cast<float*>(cuda::device_alloc(n * sizeof(float))), zero(place, p_, n), wait(place)));
}

Buffer::~Buffer() {
  if (!p_) return;
  if (!place_.is_cuda()) {
    delete[] p_;
    return;
  }
#if ESYNC_WITH_CUDA
  try {
    cuda::set_device(place_.cuda_device);  // this thread may never have used that GPU
    cuda::device_free(p_);
  } catch (...) {  // a destructor must not throw; a failing device has failed louder elsewhere
  }
#endif
}

std::vector<float> Buffer::to_host() const {
  std::vector<float> v(n_);
  copy(place_, v.data(), p_, n_);
  wait(place_);
  return v;
}

void Buffer::from_host(const std::vector<float>& v) {
  ESYNC_CHECK(v.size() == n_, "Buffer::from_host: ", v.size(), " values for a buffer of ", n_);
  copy(place_, p_, v.data(), n_);
  wait(place_);
}

HostBuffer::HostBuffer(const Place& for_place, std::size_t n) : n_(n) {
  if (n == 0) return;
#if ESYNC_WITH_CUDA
  if (for_place.is_cuda()) {
    cuda::set_device(for_place.cuda_device);  // pinned for that GPU's context
    p_ = static_cast<float*>(cuda::pinned_alloc(n * sizeof(float)));
    std::memset(p_, 0, n * sizeof(float));
    device_ = for_place.cuda_device;
    return;
  }
#endif
  p_ = new float[n]();
}

HostBuffer::~HostBuffer() {
  if (!p_) return;
  if (!pinned()) {
    delete[] p_;
    return;
  }
#if ESYNC_WITH_CUDA
  try {
    cuda::set_device(device_);  // as ~Buffer
    cuda::pinned_free(p_);
  } catch (...) {
  }
#endif
}

SideStream::SideStream(const Place& of) : side_(of) { ON_PLACE(of, (void)0, make_stream()); }

void SideStream::make_stream() {
#if ESYNC_WITH_CUDA
  event_ = cuda::event_create();
  try {
    side_.stream = cuda::stream_create();
  } catch (...) {  // the destructor does not run for a constructor that throws
    cuda::event_destroy(event_);
    throw;
  }
#endif
}

SideStream::~SideStream() {
  if (!side_.is_cuda()) return;
#if ESYNC_WITH_CUDA
  try {
    cuda::set_device(side_.cuda_device);
    cuda::event_destroy(event_);
    cuda::stream_destroy(side_.stream);
  } catch (...) {  // as ~Buffer
  }
#endif
}

void SideStream::follow(const Place& p) {
  ESYNC_CHECK(p.cuda_device == side_.cuda_device, "SideStream::follow: ", p.name(), " is not ", side_.name());
  ON_PLACE(p, (void)0, (cuda::event_record(event_, p.stream), cuda::stream_wait_event(side_.stream, event_)));
}

void copy(const Place& p, float* dst, const float* src, std::size_t n) {
  if (n == 0 || dst == src) return;
  ON_PLACE(p, std::memcpy(dst, src, n * sizeof(float)),
           cuda::copy_async(dst, src, n * sizeof(float), p.stream));
}

void zero(const Place& p, float* x, std::size_t n) {
  ON_PLACE(p, std::memset(x, 0, n * sizeof(float)), cuda::zero_async(x, n * sizeof(float), p.stream));
}

void wait(const Place& p) { ON_PLACE(p, (void)0, cuda::stream_synchronize(p.stream)); }

void axpy(const Place& p, float* out, float a, const float* x, std::size_t n) {
  ON_PLACE(p, cpu::axpy(out, a, x, n), cuda::axpy(out, a, x, n, p.stream));
}

void weighted_sum(const Place& p, float* out, const float* const* xs, const float* w, int k, std::size_t n) {
  ON_PLACE(p, cpu::weighted_sum(out, xs, w, k, n), cuda::weighted_sum(out, xs, w, k, n, p.stream));
}

void scale(const Place& p, float* x, float a, std::size_t n) {
  ON_PLACE(p, cpu::scale(x, a, n), cuda::scale(x, a, n, p.stream));
}

void sgd_update(const Place& p, float* w, const float* g, float* momentum_buf, std::size_t n,
                const SgdParams& sp) {
  ON_PLACE(p, cpu::sgd_update(w, g, momentum_buf, n, sp),
           cuda::sgd_update(w, g, momentum_buf, n, sp, p.stream));
}

void adam_update(const Place& p, float* w, const float* g, float* m, float* v, std::size_t n,
                 const AdamParams& ap, std::int64_t step) {
  ON_PLACE(p, cpu::adam_update(w, g, m, v, n, ap, step),
           cuda::adam_update(w, g, m, v, n, ap, step, p.stream));
}

void dc_compensate(const Place& p, float* out, const float* g, const float* w, const float* w_bak,
                   std::size_t n, float lambda) {
  ON_PLACE(p, cpu::dc_compensate(out, g, w, w_bak, n, lambda),
           cuda::dc_compensate(out, g, w, w_bak, n, lambda, p.stream));
}

void dc_compensate_adaptive(const Place& p, float* out, const float* g, const float* w, const float* w_bak,
                            float* ms, std::size_t n, float lambda0, float m, float eps) {
  ON_PLACE(p, cpu::dc_compensate_adaptive(out, g, w, w_bak, ms, n, lambda0, m, eps),
           cuda::dc_compensate_adaptive(out, g, w, w_bak, ms, n, lambda0, m, eps, p.stream));
}

void esync_delta(const Place& p, float* out, const float* w_local, const float* w_ref, float weight,
                 std::size_t n) {
  ON_PLACE(p, cpu::esync_delta(out, w_local, w_ref, weight, n),
           cuda::esync_delta(out, w_local, w_ref, weight, n, p.stream));
}

void esync_apply(const Place& p, float* w, const float* w_ref, const float* delta_sum, float global_lr,
                 std::size_t n) {
  ON_PLACE(p, cpu::esync_apply(w, w_ref, delta_sum, global_lr, n),
           cuda::esync_apply(w, w_ref, delta_sum, global_lr, n, p.stream));
}

void delay_adaptive_apply(const Place& p, float* w, const float* g, float lr, int workers,
                          std::int64_t staleness, std::size_t n) {
  ON_PLACE(p, cpu::delay_adaptive_apply(w, g, lr, workers, staleness, n),
           cuda::delay_adaptive_apply(w, g, lr, workers, staleness, n, p.stream));
}

void pack_bf16(const Place& p, std::uint16_t* out, const float* x, std::size_t n) {
  ON_PLACE(p, cpu::pack_bf16(out, x, n), cuda::pack_bf16(out, x, n, p.stream));
}

void unpack_bf16(const Place& p, float* out, const std::uint16_t* x, std::size_t n) {
  ON_PLACE(p, cpu::unpack_bf16(out, x, n), cuda::unpack_bf16(out, x, n, p.stream));
}

void pack_fp16(const Place& p, std::uint16_t* out, const float* x, std::size_t n) {
  ON_PLACE(p, cpu::pack_fp16(out, x, n), cuda::pack_fp16(out, x, n, p.stream));
}

void unpack_fp16(const Place& p, float* out, const std::uint16_t* x, std::size_t n) {
  ON_PLACE(p, cpu::unpack_fp16(out, x, n), cuda::unpack_fp16(out, x, n, p.stream));
}

}  // namespace esync::kernels
