// sync-grad (SSGD on the parameter server). Waits for one push from every live worker, then
//     g = sum_i n_i g_i / sum_i n_i,   w = optimiser step(w, g),
// n_i the samples behind worker i's gradient g_i: every sample counts once, whatever the batch.
#include "esync/kernels.hpp"
#include "update_rule.hpp"

namespace esync::ps {

namespace {

class SyncGrad final : public UpdateRule {
 public:
  SyncGrad(const RuleConfig&, std::size_t n) : acc_(n, 0.0f) {}

  void add(const float* g, double samples) override {
    kernels::cpu::axpy(acc_.data(), static_cast<float>(samples), g, acc_.size());
  }
  void close(float* w, FlatOptimizer& opt, float lr, double total_samples, double) override {
    if (total_samples > 0)
      kernels::cpu::scale(acc_.data(), static_cast<float>(1.0 / total_samples), acc_.size());
    opt.step(w, acc_.data(), lr);
    std::fill(acc_.begin(), acc_.end(), 0.0f);
  }

 private:
  std::vector<float> acc_;
};

}  // namespace

std::unique_ptr<UpdateRule> make_sync_grad(const RuleConfig& cfg, std::size_t n) {
  return std::make_unique<SyncGrad>(cfg, n);
}

}  // namespace esync::ps
