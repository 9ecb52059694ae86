// make_synchronizer: the one place that maps a mode name (and transport) to its implementation.
#include "esync/error.hpp"
#include "esync/synchronizer.hpp"

namespace esync::sync {

std::unique_ptr<Synchronizer> make_ssgd(const SyncContext& ctx);
std::unique_ptr<Synchronizer> make_esync(const SyncContext& ctx);
std::unique_ptr<Synchronizer> make_local_sgd(const SyncContext& ctx);
std::unique_ptr<Synchronizer> make_ps_gradients(const std::string& mode, const SyncContext& ctx);

std::unique_ptr<Synchronizer> make_synchronizer(const std::string& mode, const SyncContext& ctx) {
  if (mode == "asgd" || mode == "dcasgd") return make_ps_gradients(mode, ctx);
  if (mode == "ssgd" && ctx.ps) return make_ps_gradients(mode, ctx);
  const bool known = mode == "ssgd" || mode == "esync" || mode == "local-sgd";
  ESYNC_CHECK_T(ConfigError, known, "unknown --mode '", mode, "' (expected ssgd, asgd, dcasgd, esync or local-sgd)");
  ESYNC_CHECK_T(ConfigError, ctx.collective != nullptr || ctx.ps != nullptr, "mode ", mode,
                " needs a collective or the parameter server");
  if (mode == "ssgd") return make_ssgd(ctx);
  if (mode == "esync") return make_esync(ctx);
  return make_local_sgd(ctx);
}

}  // namespace esync::sync
