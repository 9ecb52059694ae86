// Backend choice in one place (and the default asynchronous allreduce): the only file of comm/ that may test
// ESYNC_WITH_CUDA, so a CPU-only build is complete and never mentions NCCL elsewhere.
#include <algorithm>

#include "esync/collective.hpp"
#include "esync/config.h"
#include "esync/error.hpp"
#include "esync/place.hpp"

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
  // An all-GPU group reduces with NCCL in GPU memory, its synchronisers running their kernels
  // there; a group with a CPU reduces over gloo, its GPU workers through pinned host copies of
  // their model (train/sync_staging.hpp). NCCL takes one rank per GPU: two workers on one GPU
  // (the same "host/cuda:N") reduce over gloo.
  ESYNC_CHECK_T(ConfigError, requested == "auto" || requested == "gloo" || requested == "nccl",
                "unknown backend '", requested, "' (known: auto, gloo, nccl)");
  if (requested == "gloo") return requested;
  std::string why;  // why NCCL cannot reduce this group; empty: it can
  std::vector<std::string> gpus;
  for (const auto& d : devices) {
    const std::size_t slash = d.find('/');
    const std::string host = slash == std::string::npos ? "" : d.substr(0, slash + 1);
    const kernels::Place place = kernels::parse_place(d.substr(host.size()), "--workers");
    if (!place.is_cuda()) {
      why = "worker on " + place.name() + " (NCCL reduces GPU memory only)";
      break;
    }
    const std::string gpu = host + place.name();  // "cuda" is cuda:0
    if (std::find(gpus.begin(), gpus.end(), gpu) != gpus.end()) {
      why = "two workers on " + gpu + " (NCCL takes one rank per GPU)";
      break;
    }
    gpus.push_back(gpu);
  }
  if (devices.empty()) why = "no workers";
#if !ESYNC_WITH_CUDA
  if (why.empty()) why = "this build has no CUDA/NCCL (configure with nvcc available, README \"GPU hosts\")";
#endif
  if (requested == "auto") return why.empty() ? "nccl" : "gloo";
  ESYNC_CHECK_T(ConfigError, why.empty(), "--backend nccl: ", why, "; use --backend auto or gloo");
  return "nccl";
}

}  // namespace esync::comm
