// The parameter server's rules by name (the names the mode table, modes.hpp, gives its modes).
// Each rule's formula is at the top of its file in rules/.
#include "esync/error.hpp"
#include "esync/ps_rules.hpp"
#include "rules/update_rule.hpp"

namespace esync::ps {

namespace {

struct RuleInfo {
  const char* name;
  bool synchronous;  // waits for every live worker's push, one update a round
  std::unique_ptr<UpdateRule> (*make)(const RuleConfig&, std::size_t);
};

constexpr RuleInfo kRules[] = {
    {"sync-grad", true, make_sync_grad},
    {"sync-delta", true, make_sync_delta},
    {"async", false, make_async},
    {"delay-adaptive", false, make_delay_adaptive},
    {"async-cached", false, make_async_cached},
    {"dcasgd", false, make_dcasgd},
    {"dcasgd-adaptive", false, make_dcasgd_adaptive},
};

const RuleInfo& find_rule(const std::string& name) {
  for (const RuleInfo& r : kRules)
    if (name == r.name) return r;
  std::string known;
  for (const RuleInfo& r : kRules) known += (known.empty() ? "" : ", ") + std::string(r.name);
  ESYNC_THROW(ConfigError, "unknown parameter-server rule '", name, "' (expected ", known, ")");
}

}  // namespace

bool is_sync_rule(const std::string& rule) { return find_rule(rule).synchronous; }

std::unique_ptr<UpdateRule> make_rule(const RuleConfig& cfg, std::size_t n) {
  return find_rule(cfg.rule).make(cfg, n);
}

}  // namespace esync::ps
