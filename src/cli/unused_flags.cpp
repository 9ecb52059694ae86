// Flags that the chosen mode, optimiser, schedule, partition or dataset does not use. A user
// coming from another trainer passes what worked there (--lr to an ESync job, --momentum with
// plain SGD); a flag silently ignored makes a run differ from what its command line says.
#include "cli/job_flags.hpp"
#include "esync/error.hpp"
#include "esync/modes.hpp"

namespace esync::cli {
namespace {

struct Rule {
  const char* flag;
  bool used;
  const char* used_by;  // "--FLAG is for <used_by>"
};

}  // namespace

void refuse_unused_flags(const cxxopts::ParseResult& r, const JobConfig& c, bool job) {
  const auto check = [&](const Rule& rule) {
    ESYNC_CHECK_T(ConfigError, rule.used || !r.count(rule.flag), "--", rule.flag, " is for ", rule.used_by,
                  job ? ", not this job (--mode " + c.mode + ")" : std::string(", not this run"));
  };
  // clang-format off
  const Rule shared[] = {
    {"momentum", c.optimizer == "momentum", "--optimizer momentum"},
    {"nesterov", c.optimizer == "momentum", "--optimizer momentum"},
    {"lr-gamma", c.lr_schedule == "exponential", "--lr-schedule exponential"},
    {"ls-matrix", c.dataset == "least-squares", "--dataset least-squares"},
    {"num-classes", c.dataset == "tensors", "--dataset tensors (the built-in datasets know their classes)"},
  };
  // clang-format on
  for (const auto& rule : shared) check(rule);
  if (!job) return;
  const Mode& m = find_mode(c.mode);
  const bool gradients = m.syncs_gradients(), averaging = m.averages_models();
  // clang-format off
  const Rule of_jobs[] = {
    {"lr", gradients, "the gradient modes (ssgd, asgd, dcasgd); esync and local-sgd take --local-lr for their local steps and --global-lr for the average"},
    {"local-lr", averaging, "the model-averaging modes (esync, local-sgd); the gradient modes take --lr"},
    {"global-lr", averaging, "the model-averaging modes (esync, local-sgd)"},
    {"weighting", averaging, "the model-averaging modes (esync, local-sgd); the gradient modes average by samples"},
    {"k-max", averaging, "the model-averaging modes (esync, local-sgd)"},
    {"k-fixed", m.k == KSource::fixed, "local-sgd"},
    {"k-base", m.k == KSource::state_server, "esync"},
    {"policy", m.k == KSource::state_server, "esync"},
    {"dc-lambda", m.compensates_delay, "dcasgd"},
    {"dirichlet-alpha", c.partition == "dirichlet", "--partition dirichlet"},
  };
  // clang-format on
  for (const auto& rule : of_jobs) check(rule);
}

}  // namespace esync::cli
