#pragma once
namespace esync::train {
// Sets the compute threads of every pool the process has: LibTorch's intra-op pool (OpenMP),
// our kernels (OpenMP) and OpenBLAS's own pthread pool. The last matters: Debian's OpenBLAS
// ignores at::set_num_threads and spins a second thread in sched_yield, which on a 2-core
// machine steals the core another worker needs (measured: 25% fewer samples/s at 1 thread).
void set_compute_threads(int n);
}  // namespace esync::train
