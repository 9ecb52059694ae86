// The gradient modes over the parameter server: SSGD (sync-grad rule), ASGD and its variants,
// DC-ASGD. The worker pushes its gradient and receives the weights the server holds after
// applying it (at once for the async rules, when the round closes for SSGD), so the server's
// optimiser is the only one: the worker skips its own step.
#include <algorithm>

#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "esync/ps_client.hpp"
#include "esync/synchronizer.hpp"

namespace esync::sync {

bool ps_exchange(ps::PsClient& ps, float* w, const float* x, double samples, double weight, bool stop,
                 SyncStats& st, double& samples_seen) {
  const double t0 = mono_s();
  const ps::PsReply r = ps.push_pull(w, x, samples, stop, weight);
  const double took = mono_s() - t0;
  // The shard's hold time is waiting for the slowest worker (sync rules); the rest is the cost
  // of moving the bytes and applying the rule.
  const double wait = std::min(r.wait_s, took);
  st.wait_s += wait;
  st.comm_s += took - wait;
  st.bytes_sent += r.bytes_sent;
  st.bytes_recv += r.bytes_recv;
  st.staleness = r.staleness;
  st.total_samples = std::max(0.0, r.samples - samples_seen);
  samples_seen = std::max(samples_seen, r.samples);
  return r.stop;
}

namespace {

class PsGradients final : public Synchronizer {
 public:
  PsGradients(std::string mode, const SyncContext& ctx)
      : mode_(std::move(mode)), ps_(*ctx.ps), network_delay_(ctx.network_delay) {}
  std::string mode() const override { return mode_; }
  int begin_round(std::uint64_t, const float*, std::size_t, double) override { return 1; }
  bool syncs_gradients() const override { return true; }
  bool applies_update() const override { return true; }
  bool reduce_gradients(float* w, float* grad, std::size_t, double samples, bool stop,
                        SyncStats& st) override {
    inject_delay(network_delay_, st);
    return ps_exchange(ps_, w, grad, samples, -1, stop, st, seen_);
  }

 private:
  std::string mode_;
  ps::PsClient& ps_;
  std::function<double()> network_delay_;
  double seen_ = 0;
};

}  // namespace

std::unique_ptr<Synchronizer> make_ps_gradients(const std::string& mode, const SyncContext& ctx) {
  ESYNC_CHECK_T(ConfigError, ctx.ps != nullptr, "mode ", mode,
                " needs the parameter server (--servers >= 1)");
  return std::make_unique<PsGradients>(mode, ctx);
}

}  // namespace esync::sync
