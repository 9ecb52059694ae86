// Device helpers for tests and benchmarks: allocation, copies, device count. Every call checked.
#include "launch.cuh"

namespace esync::kernels::cuda {

int device_count() {
  int n = 0;
  // No driver or no device is not an error here: the caller skips GPU work and says so.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

void* device_alloc(std::size_t bytes) {
  void* p = nullptr;
  if (bytes) CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}

void device_free(void* p) {
  if (p) CUDA_CHECK(cudaFree(p));
}

void copy_to_device(void* dst, const void* src, std::size_t bytes) {
  if (bytes) CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void copy_to_host(void* dst, const void* src, std::size_t bytes) {
  if (bytes) CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void copy_device_to_device(void* dst, const void* src, std::size_t bytes, Stream stream) {
  if (bytes)
    CUDA_CHECK(
        cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, reinterpret_cast<cudaStream_t>(stream)));
}

void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

void set_device(int device) { CUDA_CHECK(cudaSetDevice(device)); }

void copy_async(void* dst, const void* src, std::size_t bytes, Stream stream) {
  // cudaMemcpyDefault: the direction comes from the pointers (unified addressing), so one call
  // serves device<->device, device<->pinned host and pageable host copies.
  if (bytes)
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, reinterpret_cast<cudaStream_t>(stream)));
}

void zero_async(void* p, std::size_t bytes, Stream stream) {
  if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, reinterpret_cast<cudaStream_t>(stream)));
}

void stream_synchronize(Stream stream) {
  CUDA_CHECK(cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(stream)));
}

void* pinned_alloc(std::size_t bytes) {
  void* p = nullptr;
  if (bytes) CUDA_CHECK(cudaHostAlloc(&p, bytes, cudaHostAllocDefault));
  return p;
}

void pinned_free(void* p) {
  if (p) CUDA_CHECK(cudaFreeHost(p));
}

Stream stream_create() {
  cudaStream_t s = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return s;
}

void stream_destroy(Stream stream) {
  if (stream) CUDA_CHECK(cudaStreamDestroy(stream));  // queued work still completes
}

Event event_create() {
  cudaEvent_t e = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void event_destroy(Event event) {
  if (event) CUDA_CHECK(cudaEventDestroy(event));
}

void event_record(Event event, Stream stream) { CUDA_CHECK(cudaEventRecord(event, stream)); }

void stream_wait_event(Stream stream, Event event) { CUDA_CHECK(cudaStreamWaitEvent(stream, event, 0)); }

}  // namespace esync::kernels::cuda
