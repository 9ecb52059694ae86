// local-SGD / periodic averaging: ESync's round with the same fixed K on every worker, the
// baseline that shows what the state server's assignment adds.
#include "esync/error.hpp"
#include "model_averaging.hpp"

namespace esync::sync {

std::unique_ptr<Synchronizer> make_local_sgd(const SyncContext& ctx) {
  ESYNC_CHECK_T(ConfigError, ctx.k_fixed >= 1, "--k-fixed must be >= 1");
  const int k = ctx.k_fixed;
  return std::make_unique<ModelAveraging>("local-sgd", ctx, [k](std::uint64_t, double, int) { return ModelAveraging::Steps{k, k}; }, nullptr);
}

}  // namespace esync::sync
