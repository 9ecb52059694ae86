// The mode table (modes.hpp). Rule names are those of the parameter server's rule table
// (src/ps/rule_table.cpp), where each rule's formula is written.
#include "esync/modes.hpp"

#include "esync/error.hpp"

namespace esync {

namespace {

void refuse_asgd_flags(const RuleFlags& f, std::string_view mode) {
  ESYNC_CHECK_T(ConfigError, !f.delay_adaptive && !f.async_cached,
                "--delay-adaptive and --async-cached are asgd options (mode ", mode, ")");
}
void refuse_dcasgd_flags(const RuleFlags& f, std::string_view mode) {
  ESYNC_CHECK_T(ConfigError, !f.dc_adaptive, "--dc-adaptive is a dcasgd option (mode ", mode, ")");
}

std::string sync_grad(const RuleFlags& f) {
  refuse_asgd_flags(f, "ssgd");
  refuse_dcasgd_flags(f, "ssgd");
  return "sync-grad";
}
std::string sync_delta(const RuleFlags& f) {
  refuse_asgd_flags(f, "esync or local-sgd");
  refuse_dcasgd_flags(f, "esync or local-sgd");
  return "sync-delta";
}
std::string asgd(const RuleFlags& f) {
  refuse_dcasgd_flags(f, "asgd");
  ESYNC_CHECK_T(ConfigError, !(f.delay_adaptive && f.async_cached),
                "--delay-adaptive and --async-cached exclude each other");
  return f.async_cached ? "async-cached" : f.delay_adaptive ? "delay-adaptive" : "async";
}
std::string dcasgd(const RuleFlags& f) {
  refuse_asgd_flags(f, "dcasgd");
  return f.dc_adaptive ? "dcasgd-adaptive" : "dcasgd";
}

// clang-format off
constexpr Mode kModes[] = {
  {"ssgd", "synchronous SGD: every step, the sample-weighted mean of every worker's gradient",
   Exchange::gradients, KSource::one, false, false, sync_grad, "momentum", 0.02},
  {"asgd", "asynchronous SGD on the parameter server: each gradient applied on arrival",
   Exchange::gradients, KSource::one, true, false, asgd, "sgd", 0.1},
  {"dcasgd", "ASGD with delay compensation (DC-ASGD): g + lambda g*g*(w - w_bak) on arrival",
   Exchange::gradients, KSource::one, true, true, dcasgd, "sgd", 0.1},
  {"esync", "ESync: K_i local steps planned by the state server, then one model average",
   Exchange::models, KSource::state_server, false, false, sync_delta, "momentum", 0.02},
  {"local-sgd", "local SGD: the same fixed K on every worker, then one model average",
   Exchange::models, KSource::fixed, false, false, sync_delta, "momentum", 0.02},
};
// clang-format on

}  // namespace

std::span<const Mode> modes() { return kModes; }

std::string mode_names(std::string_view separator) {
  std::string out;
  for (const Mode& m : kModes) out += (out.empty() ? "" : std::string(separator)) + std::string(m.name);
  return out;
}

const Mode* lookup_mode(std::string_view name) {
  for (const Mode& m : kModes)
    if (m.name == name) return &m;
  return nullptr;
}

const Mode& find_mode(std::string_view name) {
  if (const Mode* m = lookup_mode(name)) return *m;
  ESYNC_THROW(ConfigError, "unknown mode '", name, "' (expected ", mode_names(", "), ")");
}

}  // namespace esync
