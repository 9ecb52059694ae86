// esync export CHECKPOINT -o model.pt: the model a checkpoint holds, written for PyTorch without
// esync (train/export.hpp). A job's final model is written to LOGDIR/model.pt by itself.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "esync/error.hpp"
#include "train/export.hpp"

namespace esync::cli {

int cmd_export(int argc, char** argv) {
  cxxopts::Options o(
      "esync export",
      "Write the model of a checkpoint (a worker's, or esync local's) for PyTorch: a state_dict "
      "for torch.load (built-in models, names as in launch/esync_models.py), or the TorchScript "
      "module for torch.jit.load.");
  o.add_options()("checkpoint", "The checkpoint file (e.g. LOGDIR/checkpoint/round-R/worker-0.ckpt)",
                  cxxopts::value<std::string>())("o,output", "Where the model goes",
                                                 cxxopts::value<std::string>()->default_value("model.pt"));
  o.parse_positional({"checkpoint"});
  o.positional_help("CHECKPOINT");
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  ESYNC_CHECK_T(ConfigError, r.count("checkpoint"), "give the checkpoint file to export");
  const std::string out = r["output"].as<std::string>();
  train::export_checkpoint(r["checkpoint"].as<std::string>(), out);
  std::printf("esync export: %s\n", out.c_str());
  return 0;
}

}  // namespace esync::cli
