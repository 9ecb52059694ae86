// JobConfig <-> JSON. The key list is written once, below; a key the struct does not know is
// refused (a misspelt setting in a job file would otherwise run with the default unnoticed).
#include "esync/job_config.hpp"

#include <set>

#include "esync/error.hpp"

namespace esync {
namespace {

// clang-format off
#define ESYNC_JOB_KEYS(X)                                                                          \
  X(mode) X(dataset) X(data_dir) X(num_classes) X(ls_matrix) X(model) X(batch) X(partition) X(dirichlet_alpha)    \
  X(epochs) X(time_budget_s) X(seed) X(optimizer) X(lr) X(momentum) X(local_lr) X(global_lr)       \
  X(weighting) X(drift_correction) X(overlap) X(weight_decay) X(nesterov)     \
  X(lr_schedule) X(lr_gamma) X(warmup_epochs) X(policy) X(k_base) X(k_max) X(k_fixed) X(servers)   \
  X(max_workers) X(delay_adaptive) X(async_cached) X(dc_adaptive) X(dc_lambda) X(on_failure)       \
  X(slowdown) X(slowdown_basis) X(delay) X(slow_worker) X(devices) X(backend) X(threads)           \
  X(batch_per_worker) X(threads_per_worker) X(heartbeat_timeout_s) X(heartbeat_interval_s)         \
  X(log_dir) X(eval_every_s) X(log_every) X(checkpoint_every) X(checkpoint_dir) X(resume)
// clang-format on

template <typename T>
void read(const nlohmann::json& v, T& out, const char* key) {
  try {
    v.get_to(out);
  } catch (const nlohmann::json::exception&) {
    ESYNC_THROW(ConfigError, "job setting '", key, "': ", v.dump(), " has the wrong type");
  }
}

void read(const nlohmann::json& v, nlohmann::json& out, const char*) { out = v; }

}  // namespace

OptimizerConfig optimizer_config(const JobConfig& c, double lr) {
  OptimizerConfig o;
  o.kind = c.optimizer;
  o.lr = static_cast<float>(lr);
  o.momentum = static_cast<float>(c.momentum);
  o.weight_decay = static_cast<float>(c.weight_decay);
  o.nesterov = c.nesterov;
  return o;
}

LrSchedule lr_schedule(const JobConfig& c, double lr, std::int64_t train_size) {
  const double n = double(std::max<std::int64_t>(train_size, 1));
  return {c.lr_schedule,
          static_cast<float>(lr),
          static_cast<std::int64_t>(c.epochs * n),
          static_cast<std::int64_t>(n),
          static_cast<float>(c.lr_gamma),
          static_cast<std::int64_t>(c.warmup_epochs * n)};
}

void to_json(nlohmann::json& j, const JobConfig& c) {
  j = nlohmann::json::object();
#define ESYNC_PUT(k) j[#k] = c.k;
  ESYNC_JOB_KEYS(ESYNC_PUT)
#undef ESYNC_PUT
}

void from_json(const nlohmann::json& j, JobConfig& c) {
  ESYNC_CHECK_T(ConfigError, j.is_object(), "the job configuration is not a JSON object: ", j.dump());
  static const std::set<std::string> known = {
#define ESYNC_NAME(k) #k,
      ESYNC_JOB_KEYS(ESYNC_NAME)
#undef ESYNC_NAME
  };
  for (const auto& [key, v] : j.items())
    ESYNC_CHECK_T(ConfigError, known.count(key), "job setting '", key, "' is not one esync knows");
#define ESYNC_GET(k) \
  if (const auto it = j.find(#k); it != j.end() && !it->is_null()) read(*it, c.k, #k);
  ESYNC_JOB_KEYS(ESYNC_GET)
#undef ESYNC_GET
}

}  // namespace esync
