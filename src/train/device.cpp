#include "train/device.hpp"

#include "esync/error.hpp"

namespace esync::train {

void require_trainable_device(const std::string& device, const std::string& flag) {
  const kernels::Place place = kernels::parse_place(device, flag);
  if (!place.is_cuda()) return;
  ESYNC_CHECK_T(
      ConfigError, torch::cuda::is_available(), flag, " ", device,
      ": this LibTorch has no CUDA or sees no GPU (Debian's is CPU-only); on a GPU host, build against "
      "a CUDA LibTorch with ESYNC_LIBTORCH=DIR ./launch/setup.sh (README, GPU hosts)");
  ESYNC_CHECK_T(ConfigError, kernels::cuda_built(), flag, " ", device,
                ": this esync was built without nvcc, so it has no CUDA kernels (README, GPU hosts)");
  const auto visible = static_cast<int>(torch::cuda::device_count());
  ESYNC_CHECK_T(ConfigError, place.cuda_device < visible, flag, " ", device, ": only ", visible,
                " GPU(s) visible here (CUDA_VISIBLE_DEVICES?)");
}

torch::Device torch_device(const std::string& device) {
  const kernels::Place place = kernels::parse_place(device, "device");
  if (!place.is_cuda()) return torch::kCPU;
  return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(place.cuda_device));
}

kernels::Place place_of(const torch::Device& device) {
  if (!device.is_cuda()) return kernels::Place::host();
  return kernels::Place::gpu(device.has_index() ? device.index() : 0);
}

}  // namespace esync::train
