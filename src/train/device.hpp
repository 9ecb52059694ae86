#pragma once
// The devices a worker or `esync local` trains on. Training runs on CPUs; a CUDA device is
// refused before any work with one line that says what is missing: a LibTorch with CUDA and a
// visible GPU (Debian's LibTorch has no CUDA), or, where both are there, a training loop on the
// GPU, which this version does not have (its CUDA kernels and NCCL collective are built and
// tested on their own; see README, "GPU hosts").
#include <string>

namespace esync::train {

// flag: how the user named the device ("--device", "--workers"), for the message. ConfigError
// unless the device is one this build trains on.
void require_trainable_device(const std::string& device, const std::string& flag);

}  // namespace esync::train
