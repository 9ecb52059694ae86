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
  // Which modes use a flag comes from the mode table (modes.hpp), never from a list of names here.
  const auto modes_where = [](bool (*pick)(const Mode&)) {
    std::string out;
    for (const auto& mode : modes())
      if (pick(mode)) {
        if (!out.empty()) out += ", ";
        out += mode.name;
      }
    return out;
  };
  const std::string grad = modes_where([](const Mode&x) { return x.syncs_gradients(); }),
                    avg = modes_where([](const Mode&x) { return x.averages_models(); }),
                    fixed_k = modes_where([](const Mode&x) { return x.k == KSource::fixed; }),
                    planned_k = modes_where([](const Mode&x) { return x.k == KSource::state_server; }),
                    compensating = modes_where([](const Mode&x) { return x.compensates_delay; });
  const std::string gradient_modes = "the gradient modes (" + grad + ")",
                    averaging_modes = "the model-averaging modes (" + avg + ")";
  const std::string lr_text = gradient_modes + "; " + avg +
                              " take --local-lr for their local steps and --global-lr for the average",
                    local_lr_text = averaging_modes + "; the gradient modes take --lr",
                    weighting_text = averaging_modes + "; the gradient modes average by samples";
  // clang-format off
  const Rule of_jobs[] = {
    {"lr", gradients, lr_text.c_str()},
    {"local-lr", averaging, local_lr_text.c_str()},
    {"global-lr", averaging, averaging_modes.c_str()},
    {"weighting", averaging, weighting_text.c_str()},
    {"k-max", averaging, averaging_modes.c_str()},
    {"k-fixed", m.k == KSource::fixed, fixed_k.c_str()},
    {"k-base", m.k == KSource::state_server, planned_k.c_str()},
    {"policy", m.k == KSource::state_server, planned_k.c_str()},
    {"dc-lambda", m.compensates_delay, compensating.c_str()},
    {"dirichlet-alpha", c.partition == "dirichlet", "--partition dirichlet"},
  };
  // clang-format on
  for (const auto& rule : of_jobs) check(rule);
}

}  // namespace esync::cli
