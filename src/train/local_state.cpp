#include "train/local_state.hpp"

#include <unistd.h>

#include "esync/checkpoint.hpp"
#include "esync/error.hpp"

namespace esync::train {

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

void save_checkpoint(const LocalConfig& cfg, FlatModel& fm, FlatOptimizer& opt, const LocalState& st) {
  Checkpoint ck;
  ck.meta = {{"format", "esync-local"},
             {"config", cfg.to_json()},
             {"step", st.step},
             {"samples", st.samples},
             {"num_flat", fm.size()}};
  if (!std::isnan(st.f0)) ck.meta["f0"] = st.f0;
  ck.tensors.emplace_back("flat", fm.to_host());
  save_optimizer(ck, opt);
  ck.save(cfg.save);
}

LocalState resume_from(const LocalConfig& cfg, FlatModel& fm, FlatOptimizer& opt) {
  const Checkpoint ck = Checkpoint::load(cfg.resume);
  ESYNC_CHECK_T(IoError, ck.meta.value("format", "") == "esync-local", cfg.resume,
                ": not a checkpoint of esync local");
  // The parts of the configuration that define the state must match; the rest may change.
  const auto& was = ck.meta.at("config");
  const auto now = cfg.to_json();
  for (const char* key : {"model", "dataset", "optimizer"}) {
    ESYNC_CHECK_T(ConfigError, was.value(key, nlohmann::json()) == now.value(key, nlohmann::json()),
                  cfg.resume, ": checkpoint was written with ", key, "=",
                  was.value(key, nlohmann::json()).dump(), " but this run has ", key, "=",
                  now.value(key, nlohmann::json()).dump());
  }
  const auto& flat = ck.tensor("flat");
  ESYNC_CHECK_T(ConfigError, static_cast<std::int64_t>(flat.size()) == fm.size(), cfg.resume,
                ": checkpoint holds ", flat.size(), " values but the model has ", fm.size());
  fm.load(flat);
  load_optimizer(ck, opt, cfg.resume);
  LocalState st;
  st.step = ck.meta.at("step").get<std::int64_t>();
  st.samples = ck.meta.at("samples").get<std::int64_t>();
  st.f0 = ck.meta.value("f0", NAN);
  return st;
}

}  // namespace esync::train
