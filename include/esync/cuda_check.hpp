#pragma once
// CUDA_CHECK: every CUDA runtime call's failure becomes an esync::Error naming the
// call and file:line. For CUDA translation units and CUDA-only sources (it needs the runtime
// headers); one definition for the kernels and the NCCL backend.
#include <cuda_runtime.h>

#include "esync/error.hpp"

#define CUDA_CHECK(call)                                                                       \
  do {                                                                                         \
    cudaError_t err_ = (call);                                                                 \
    if (err_ != cudaSuccess)                                                                   \
      ESYNC_THROW(::esync::Error, "CUDA call '" #call "' failed: ", cudaGetErrorString(err_)); \
  } while (0)
