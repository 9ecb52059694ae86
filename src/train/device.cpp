#include "train/device.hpp"

#include "esync/error.hpp"

namespace esync::train {

namespace {

bool is_cuda_name(const std::string& d) { return d == "cuda" || d.rfind("cuda:", 0) == 0; }

int cuda_index(const std::string& d, const std::string& flag) {
  if (d == "cuda") return 0;
  const std::string num = d.substr(5);
  ESYNC_CHECK_T(ConfigError, !num.empty() && num.find_first_not_of("0123456789") == std::string::npos, flag,
                " ", d, ": not a device (cpu, cuda or cuda:N)");
  return std::stoi(num);
}

}  // namespace

void require_trainable_device(const std::string& device, const std::string& flag) {
  if (device == "cpu") return;
  ESYNC_CHECK_T(ConfigError, is_cuda_name(device), flag, " ", device, ": not a device (cpu, cuda or cuda:N)");
  const int index = cuda_index(device, flag);
  ESYNC_CHECK_T(
      ConfigError, torch::cuda::is_available(), flag, " ", device,
      ": this LibTorch has no CUDA or sees no GPU (Debian's is CPU-only); on a GPU host, build against "
      "a CUDA LibTorch with ESYNC_LIBTORCH=DIR ./launch/setup.sh (README, GPU hosts)");
  ESYNC_CHECK_T(ConfigError, kernels::cuda_built(), flag, " ", device,
                ": this esync was built without nvcc, so it has no CUDA kernels (README, GPU hosts)");
  const auto visible = static_cast<int>(torch::cuda::device_count());
  ESYNC_CHECK_T(ConfigError, index < visible, flag, " ", device, ": only ", visible,
                " GPU(s) visible here (CUDA_VISIBLE_DEVICES?)");
}

torch::Device torch_device(const std::string& device) {
  if (device == "cpu") return torch::kCPU;
  return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(cuda_index(device, "device")));
}

kernels::Place place_of(const torch::Device& device) {
  if (!device.is_cuda()) return kernels::Place::host();
  return kernels::Place::gpu(device.has_index() ? device.index() : 0);
}

}  // namespace esync::train
