#pragma once
// The trained model in forms PyTorch reads without esync (README, "Your model out"):
//  - a built-in model: its state_dict, {name: tensor} as Python's torch.save writes it
//    (torch::pickle_save), the names those of the same model written in PyTorch
//    (launch/esync_models.py), BatchNorm's counters included; load with torch.load;
//  - a TorchScript model (--model FILE): the module itself with the trained weights; load with
//    torch.jit.load.
// Tensors are written from the CPU whatever the training device. The file is written under a
// temporary name and renamed, so a reader never sees half of it.
#include <string>

#include "train/models/net.hpp"

namespace esync::train {

// Writes `net` (a built-in model or a TorchScript module) to `path`; IoError naming the file.
void save_for_pytorch(Net& net, const std::string& path);

// The model a checkpoint holds (a worker's or esync local's), rebuilt from the configuration in
// the checkpoint and written as save_for_pytorch does. The data set is read for its shapes.
void export_checkpoint(const std::string& checkpoint, const std::string& path);

}  // namespace esync::train
