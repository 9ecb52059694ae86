// Backend choice in one place (and the default asynchronous allreduce): the only file of comm/ that may test
// ESYNC_WITH_CUDA, so a CPU-only build is complete and never mentions NCCL elsewhere.
#include <algorithm>

#include "esync/collective.hpp"
#include "esync/config.h"
#include "esync/error.hpp"

namespace esync::comm {

// Defined in gloo_collective.cpp (and nccl_collective.cpp in CUDA builds); not in the public
// header so callers go through the factory.
std::unique_ptr<Collective> make_gloo_collective(const CollectiveOptions& opts, std::shared_ptr<Store> store);
#if ESYNC_WITH_CUDA
std::unique_ptr<Collective> make_nccl_collective(const CollectiveOptions& opts, std::shared_ptr<Store> store);
#endif

Work<void> Collective::allreduce_sum_async(float* data, std::size_t n) {
  return start_async<void>("an allreduce of " + std::to_string(n) + " floats over " + name(),
                           [this, data, n] { allreduce_sum(data, n); });
}

std::unique_ptr<Collective> make_collective(const CollectiveOptions& opts, std::shared_ptr<Store> store) {
  if (opts.size < 1 || opts.rank < 0 || opts.rank >= opts.size) {
    ESYNC_THROW(ConfigError, "collective: rank ", opts.rank, " is not in a world of size ", opts.size);
  }
  if (opts.timeout.count() <= 0) {
    ESYNC_THROW(ConfigError, "collective: timeout must be positive, got ", opts.timeout.count(), " ms");
  }
  if (!store) ESYNC_THROW(ConfigError, "collective: no rendezvous store given");

  if (opts.backend == "gloo") return make_gloo_collective(opts, std::move(store));
  if (opts.backend == "nccl") {
#if ESYNC_WITH_CUDA
    return make_nccl_collective(opts, std::move(store));
#else
    ESYNC_THROW(ConfigError,
                "collective: backend 'nccl': this build has no CUDA/NCCL (configure with nvcc available)");
#endif
  }
  ESYNC_THROW(ConfigError, "collective: unknown backend '", opts.backend, "' (known: gloo, nccl)");
}

std::string resolve_backend(const std::string& requested, const std::vector<std::string>& devices) {
  // A training group reduces over gloo, GPU workers included: their synchronisers work on pinned
  // host copies of the model (train/sync_staging.hpp). NCCL reduces device memory, which needs
  // the synchronisers to run on the GPU; until they do, the NCCL collective is built and tested on
  // its own (test_nccl), and a job that asks for it is told so before it starts.
  ESYNC_CHECK_T(ConfigError, requested == "auto" || requested == "gloo" || requested == "nccl",
                "unknown backend '", requested, "' (known: auto, gloo, nccl)");
  ESYNC_CHECK_T(ConfigError, requested != "nccl",
                "--backend nccl: training groups reduce over gloo in this version (GPU workers through "
                "pinned host copies); use --backend auto or gloo (README, GPU hosts)");
  (void)devices;
  return "gloo";
}

}  // namespace esync::comm
