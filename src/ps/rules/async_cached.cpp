// async-cached (ASGD, --async-cached). The shard keeps every live worker's latest gradient and
// steps on their mean at each push:
//     g_i = the push,   g = (1/M) sum_{live j} g_j,   w = optimiser step(w, g)
// A worker that has not pushed yet counts as zeros. The mean (not the sum) keeps one learning
// rate valid across the synchronous, asynchronous and cached rules.
#include <cstring>

#include "esync/kernels.hpp"
#include "update_rule.hpp"

namespace esync::ps {

namespace {
class AsyncCached final : public UpdateRule {
 public:
  AsyncCached(const RuleConfig& cfg, std::size_t n)
      : latest_(static_cast<std::size_t>(cfg.workers), std::vector<float>(n, 0.0f)), mean_(n, 0.0f) {}

  Step step_for(int worker, const float* g, std::int64_t, const ShardView& s, float lr) override {
    std::memcpy(latest_.at(static_cast<std::size_t>(worker)).data(), g, s.n * sizeof(float));
    std::vector<const float*> xs;
    for (std::size_t j = 0; j < s.live->size(); ++j)
      if ((*s.live)[j]) xs.push_back(latest_[j].data());
    const std::vector<float> weights(xs.size(), 1.0f / static_cast<float>(xs.size()));
    kernels::cpu::weighted_sum(mean_.data(), xs.data(), weights.data(), static_cast<int>(xs.size()), s.n);
    return {mean_.data(), lr};
  }
  // A joining worker's slot restarts from zeros.
  void joined(int worker) override {
    auto& g = latest_.at(static_cast<std::size_t>(worker));
    std::fill(g.begin(), g.end(), 0.0f);
  }

 private:
  std::vector<std::vector<float>> latest_;
  std::vector<float> mean_;
};
}  // namespace

std::unique_ptr<UpdateRule> make_async_cached(const RuleConfig& cfg, std::size_t n) {
  return std::make_unique<AsyncCached>(cfg, n);
}

}  // namespace esync::ps
