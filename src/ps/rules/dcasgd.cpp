// dcasgd and dcasgd-adaptive (DC-ASGD, Zheng et al., ICML 2017). At its pull, worker i's copy
// of the weights is kept as w_bak_i; its gradient g, computed on w_bak_i, is compensated for the
// updates applied since by the first-order Taylor term with the diagonal approximation g*g of
// the Hessian, then applied at once:
//     g~ = g + lambda g*g*(w - w_bak_i),   w = optimiser step(w, g~)
// The adaptive variant scales lambda by a running mean square of the gradient,
//     MS = m MS + (1 - m) g*g,   lambda_t = lambda0 / sqrt(MS + eps).
#include "esync/error.hpp"
#include "esync/kernels.hpp"
#include "update_rule.hpp"

namespace esync::ps {

namespace {
class DcAsgd final : public UpdateRule {
 public:
  DcAsgd(const RuleConfig& cfg, std::size_t n, bool adaptive)
      : cfg_(cfg),
        adaptive_(adaptive),
        backup_(static_cast<std::size_t>(cfg.workers)),
        has_(backup_.size(), 0),
        out_(n, 0.0f) {
    if (adaptive_) mean_square_.assign(n, 0.0f);
  }

  Step step_for(int worker, const float* g, std::int64_t, const ShardView& s, float lr) override {
    const auto i = static_cast<std::size_t>(worker);
    ESYNC_CHECK_T(ProtocolError, has_.at(i), "DC-ASGD push from worker ", worker, " before it pulled");
    const auto& bak = backup_[i];
    if (adaptive_)
      kernels::cpu::dc_compensate_adaptive(out_.data(), g, s.w, bak.data(), mean_square_.data(), s.n,
                                           cfg_.dc_lambda, cfg_.dc_m, cfg_.dc_eps);
    else
      kernels::cpu::dc_compensate(out_.data(), g, s.w, bak.data(), s.n, cfg_.dc_lambda);
    return {out_.data(), lr};
  }
  void pulled(int worker, const float* w, std::size_t n) override {
    backup_.at(static_cast<std::size_t>(worker)).assign(w, w + n);
    has_[static_cast<std::size_t>(worker)] = 1;
  }
  // No backup until the joining worker pulls.
  void joined(int worker) override { has_.at(static_cast<std::size_t>(worker)) = 0; }

 private:
  RuleConfig cfg_;
  bool adaptive_;
  std::vector<std::vector<float>> backup_;  // w_bak_i
  std::vector<char> has_;                   // backup_[i] holds worker i's last pull
  std::vector<float> out_, mean_square_;
};
}  // namespace

std::unique_ptr<UpdateRule> make_dcasgd(const RuleConfig& cfg, std::size_t n) {
  return std::make_unique<DcAsgd>(cfg, n, false);
}
std::unique_ptr<UpdateRule> make_dcasgd_adaptive(const RuleConfig& cfg, std::size_t n) {
  return std::make_unique<DcAsgd>(cfg, n, true);
}

}  // namespace esync::ps
