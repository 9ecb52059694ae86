// make_synchronizer: a mode's synchroniser from its row in the mode table (modes.hpp) and the
// job's transport. Gradient modes: the parameter server's, or one allreduce a step (SSGD). Model
// averaging: K local steps from the mode's K source, then one average.
#include "esync/error.hpp"
#include "esync/modes.hpp"
#include "esync/synchronizer.hpp"
#include "k_planner.hpp"
#include "model_averaging.hpp"

namespace esync::sync {

std::unique_ptr<Synchronizer> make_allreduce_gradients(const SyncContext& ctx);
std::unique_ptr<Synchronizer> make_ps_gradients(const std::string& mode, const SyncContext& ctx);

std::unique_ptr<Synchronizer> make_synchronizer(const std::string& name, const SyncContext& ctx) {
  const Mode& mode = find_mode(name);
  ESYNC_CHECK_T(ConfigError, ctx.ps != nullptr || (ctx.collective != nullptr && !mode.asynchronous), "mode ",
                name,
                mode.asynchronous ? " needs the parameter server (--servers >= 1)"
                                  : " needs a collective or the parameter server");
  if (mode.syncs_gradients()) return ctx.ps ? make_ps_gradients(name, ctx) : make_allreduce_gradients(ctx);
  return std::make_unique<ModelAveraging>(name, ctx, make_k_planner(mode.k, ctx));
}

}  // namespace esync::sync
