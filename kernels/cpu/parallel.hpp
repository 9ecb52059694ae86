#pragma once
// Loops over n elements: SIMD always, OpenMP threads only above kParallelThreshold so that
// small tensors do not pay a fork-join. Static schedule: equal contiguous chunks, which is what
// a bandwidth-bound loop wants (each thread streams its own range).
#include "esync/kernels.hpp"

#define ESYNC_PARALLEL_FOR \
  _Pragma("omp parallel for simd schedule(static) if (n >= ::esync::kernels::cpu::kParallelThreshold)")
