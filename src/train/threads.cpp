#include "train/threads.hpp"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <omp.h>

namespace esync::train {

void set_compute_threads(int n) {
  if (n <= 0) return;
  at::set_num_threads(n);
  omp_set_num_threads(n);
  // Looked up at run time: the BLAS behind libblas.so.3 is chosen by Debian's alternatives and
  // may not be OpenBLAS at all.
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(n);
}

}  // namespace esync::train
