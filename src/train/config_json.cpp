// The configuration as JSON: logged in "start" events and stored in checkpoints.
#include "esync/train_config.hpp"

namespace esync::train {

nlohmann::json LocalConfig::to_json() const {
  return {{"dataset", data.name},
          {"data_dir", data.dir},
          {"ls_matrix", data.ls_matrix},
          {"model", model},
          {"device", device},
          {"epochs", epochs},
          {"steps", steps},
          {"batch", batch},
          {"optimizer", opt.kind},
          {"lr", opt.lr},
          {"momentum", opt.momentum},
          {"weight_decay", opt.weight_decay},
          {"nesterov", opt.nesterov},
          {"lr_schedule", lr_schedule},
          {"lr_gamma", lr_gamma},
          {"threads", threads},
          {"seed", seed},
          {"eval_every", eval_every}};
}

}  // namespace esync::train
