// delay-adaptive (ASGD, --delay-adaptive). A push with staleness tau steps with a smaller rate,
//     lr_tau = lr * M / max(M, tau),    w = optimiser step(w, g_i, lr_tau),
// M the live workers: a push no staler than one lap of the workers keeps the full rate.
#include "esync/kernels.hpp"
#include "update_rule.hpp"

namespace esync::ps {

namespace {
class DelayAdaptive final : public UpdateRule {
 public:
  Step step_for(int, const float* g, std::int64_t staleness, const ShardView& s, float lr) override {
    return {g, kernels::delay_adaptive_lr(lr, s.live_workers, staleness)};
  }
};
}  // namespace

std::unique_ptr<UpdateRule> make_delay_adaptive(const RuleConfig&, std::size_t) {
  return std::make_unique<DelayAdaptive>();
}

}  // namespace esync::ps
