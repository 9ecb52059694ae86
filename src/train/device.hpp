#pragma once
// The devices a worker or `esync local` trains on: "cpu", "cuda" (the first GPU) or "cuda:N".
// A CUDA device is refused before any work, in one line that says what is missing, where this
// LibTorch has no CUDA (Debian's has none), sees no such GPU, or this build lacks the CUDA
// kernels; see README, "GPU hosts".
#include <torch/torch.h>

#include <string>

#include "esync/place.hpp"

namespace esync::train {

// flag: how the user named the device ("--device", "--workers"), for the message. ConfigError
// unless the device is one this build trains on.
void require_trainable_device(const std::string& device, const std::string& flag);
torch::Device torch_device(const std::string& device);
// The kernels' Place of a torch device (its default stream: LibTorch's own, see place.hpp).
kernels::Place place_of(const torch::Device& device);

}  // namespace esync::train
