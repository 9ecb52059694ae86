#pragma once
// parallel_for(n, f): calls f(i) for i in [0, n) as one SIMD loop. Small inputs stay on the
// calling thread: an OpenMP region costs 1-2 µs even when it ends up with one thread, longer
// than a whole 4 KB kernel, and on 2 cores splitting only pays off from about a megabyte up.
// Static schedule: equal contiguous chunks, what a bandwidth-bound loop wants. Callers capture
// by value ([=]): a pointer captured by reference must be reloaded after every store through
// another pointer, which stops GCC from vectorising.
#include "esync/kernels.hpp"

namespace esync::kernels::cpu {

template <typename F>
inline void parallel_for(std::size_t n, F&& f) {
  if (n < kParallelThreshold) {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) f(i);
}

}  // namespace esync::kernels::cpu
