#include "train/export.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "esync/checkpoint.hpp"
#include "esync/error.hpp"
#include "train/data/dataset.hpp"
#include "train/flat_model.hpp"

namespace esync::train {

namespace fs = std::filesystem;

void Net::save_for_pytorch(const std::string& path) {
  c10::Dict<std::string, at::Tensor> state;
  torch::NoGradGuard no_grad;
  for (const auto& p : named_parameters(/*recurse=*/true))
    state.insert(p.key(), p.value().detach().to(torch::kCPU).contiguous().clone());
  for (const auto& b : named_buffers(/*recurse=*/true))
    state.insert(b.key(), b.value().detach().to(torch::kCPU).contiguous().clone());
  const std::vector<char> bytes = torch::pickle_save(state);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  ESYNC_CHECK_T(IoError, out.good(), "cannot write the model to ", path, ": ", std::strerror(errno));
}

void save_for_pytorch(Net& net, const std::string& path) {
  // Under a temporary name, renamed once complete: a reader never sees half a model.
  const std::string tmp = path + ".tmp";
  net.save_for_pytorch(tmp);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  ESYNC_CHECK_T(IoError, !ec, "cannot write the model to ", path, ": ", ec.message());
}

void export_checkpoint(const std::string& checkpoint, const std::string& path) {
  const Checkpoint ck = Checkpoint::load(checkpoint);
  const std::string format = ck.meta.value("format", "");
  ESYNC_CHECK_T(IoError, format == "esync-worker" || format == "esync-local", checkpoint,
                ": holds no model (a parameter-server shard's checkpoint holds a slice of one; export a "
                "worker's)");
  const auto& cfg = ck.meta.at("config");
  DataOptions dopt;
  dopt.name = cfg.value("dataset", "fashion-mnist");
  dopt.dir = cfg.value("data_dir", "");
  dopt.ls_matrix = cfg.value("ls_matrix", dopt.ls_matrix);
  dopt.num_classes = cfg.value("num_classes", dopt.num_classes);
  dopt.seed = cfg.value("seed", dopt.seed);
  const Dataset ds = load_dataset(dopt);
  FlatModel fm(make_model(cfg.value("model", ""), ds.sample_shape, ds.num_classes));
  const std::vector<float>& flat = ck.tensor("flat");
  ESYNC_CHECK_T(IoError, static_cast<std::int64_t>(flat.size()) == fm.size(), checkpoint, ": ", flat.size(),
                " floats, but model ", cfg.value("model", ""), " has ", fm.size());
  fm.load(flat);
  save_for_pytorch(fm.net(), path);
}

}  // namespace esync::train
