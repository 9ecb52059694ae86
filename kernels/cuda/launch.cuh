#pragma once
// One launcher for every element-wise CUDA kernel: a grid-stride loop over n elements that
// calls a device lambda per index. Each thread handles a strided sequence so a capped grid
// still covers any n, and consecutive threads touch consecutive addresses (coalesced).
#include <cuda_runtime.h>

#include "esync/cuda_check.hpp"
#include "esync/error.hpp"
#include "esync/kernels.hpp"

namespace esync::kernels::cuda::detail {

template <typename F>
__global__ void elementwise_kernel(std::size_t n, F f) {
  const std::size_t stride = std::size_t(blockDim.x) * gridDim.x;
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) f(i);
}

template <typename F>
void launch(std::size_t n, Stream stream, F f) {
  if (n == 0) return;
  constexpr unsigned kThreads = 256;
  // Enough blocks to fill every SM several times over; beyond that the stride loop takes over.
  const std::size_t want = (n + kThreads - 1) / kThreads;
  const unsigned blocks = static_cast<unsigned>(want < 65535 ? want : 65535);
  elementwise_kernel<<<blocks, kThreads, 0, reinterpret_cast<cudaStream_t>(stream)>>>(n, f);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace esync::kernels::cuda::detail
