// The configuration as JSON: logged in "start" events and stored in checkpoints.
#include "esync/train_config.hpp"

namespace esync::train {

nlohmann::json LocalConfig::to_json() const {
  return {{"dataset", data.name},
          {"data_dir", data.dir},
          {"ls_matrix", data.ls_matrix},
          {"num_classes", data.num_classes},
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
          {"warmup_epochs", warmup_epochs},
          {"threads", threads},
          {"seed", seed},
          {"eval_every_s", eval_every_s},
          {"eval_every_steps", eval_every_steps}};
}

}  // namespace esync::train
