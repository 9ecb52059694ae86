// sync-delta (ESync and local-SGD on the parameter server). Worker i pushes its weighted change
// a_i Delta_i after its K_i local steps; once every live worker has pushed,
//     w = w + eta_global * sum_i a_i Delta_i / sum_i a_i      on the parameters,
//     w = w + sum_i a_i Delta_i / sum_i a_i                   on the BatchNorm buffers,
// the scales and a_i as averaging.hpp has them (--weighting), the same round as over allreduce.
#include "esync/averaging.hpp"
#include "esync/kernels.hpp"
#include "update_rule.hpp"

namespace esync::ps {

namespace {

class SyncDelta final : public UpdateRule {
 public:
  SyncDelta(const RuleConfig& cfg, std::size_t n) : cfg_(cfg), acc_(n, 0.0f) {}

  void add(const float* weighted_change, double) override {
    kernels::cpu::axpy(acc_.data(), 1.0f, weighted_change, acc_.size());
  }
  void close(float* w, FlatOptimizer&, float, double total_samples, double total_weight) override {
    apply_average(w, w, acc_.data(), acc_.size(), cfg_.buffers_from,
                  round_scales(cfg_.weighting, cfg_.global_lr, total_samples, total_weight));
    std::fill(acc_.begin(), acc_.end(), 0.0f);
  }

 private:
  RuleConfig cfg_;
  std::vector<float> acc_;
};

}  // namespace

std::unique_ptr<UpdateRule> make_sync_delta(const RuleConfig& cfg, std::size_t n) {
  return std::make_unique<SyncDelta>(cfg, n);
}

}  // namespace esync::ps
