#include "train/device.hpp"

#include <torch/torch.h>

#include "esync/error.hpp"

namespace esync::train {

void require_trainable_device(const std::string& device, const std::string& flag) {
  if (device == "cpu") return;
  const bool cuda = device == "cuda" || device.rfind("cuda:", 0) == 0;
  ESYNC_CHECK_T(ConfigError, cuda, flag, " ", device, ": not a device (cpu, cuda or cuda:N)");
  ESYNC_CHECK_T(
      ConfigError, torch::cuda::is_available(), flag, " ", device,
      ": this LibTorch has no CUDA or sees no GPU (Debian's is CPU-only); on a GPU host, build against "
      "a CUDA LibTorch with ESYNC_LIBTORCH=DIR ./launch/setup.sh (README, GPU hosts)");
  ESYNC_THROW(ConfigError, flag, " ", device,
              ": training runs on CPUs in this version; the CUDA kernels and the NCCL collective are built, "
              "but no training loop uses them (README, GPU hosts)");
}

}  // namespace esync::train
