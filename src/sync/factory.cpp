// make_synchronizer: the one place that maps a mode name to its implementation.
#include "esync/error.hpp"
#include "esync/synchronizer.hpp"

namespace esync::sync {

std::unique_ptr<Synchronizer> make_ssgd(const SyncContext& ctx);
std::unique_ptr<Synchronizer> make_esync(const SyncContext& ctx);
std::unique_ptr<Synchronizer> make_local_sgd(const SyncContext& ctx);

std::unique_ptr<Synchronizer> make_synchronizer(const std::string& mode, const SyncContext& ctx) {
  ESYNC_CHECK_T(ConfigError, ctx.collective != nullptr, "mode ", mode, " needs a collective");
  if (mode == "ssgd") return make_ssgd(ctx);
  if (mode == "esync") return make_esync(ctx);
  if (mode == "local-sgd") return make_local_sgd(ctx);
  if (mode == "asgd" || mode == "dcasgd")
    ESYNC_THROW(ConfigError, "mode ", mode, " runs on the parameter server, which this build does not have yet");
  ESYNC_THROW(ConfigError, "unknown --mode '", mode, "' (expected ssgd, asgd, dcasgd, esync or local-sgd)");
}

}  // namespace esync::sync
