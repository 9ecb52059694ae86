// SSGD: every step, g = sum_i n_i g_i / sum_i n_i through one allreduce (n_i: this step's
// samples on worker i, so unequal per-device batches are weighted by samples), then every
// worker applies the same optimiser step to the same weights.
#include "esync/collective.hpp"
#include "esync/error.hpp"
#include "esync/place.hpp"
#include "esync/synchronizer.hpp"

namespace esync::sync {
namespace {

class Ssgd final : public Synchronizer {
 public:
  explicit Ssgd(const SyncContext& ctx)
      : c_(*ctx.collective),
        at_(ctx.place),
        ctl_(at_, control_slots(c_.size())),  // page-locked before the first step
        network_delay_(ctx.network_delay),
        regroup_vote_(ctx.regroup_vote) {}
  std::string mode() const override { return "ssgd"; }
  int begin_round(std::uint64_t, const float*, std::size_t, double) override { return 1; }
  bool syncs_gradients() const override { return true; }
  bool reduce_gradients(float*, float* grad, std::size_t n, double samples, bool stop,
                        SyncStats& st) override {
    inject_delay(network_delay_, st);
    kernels::scale(at_, grad, static_cast<float>(samples), n);
    const bool consensus = reduce_with_control(c_, at_, grad, n, ctl_, samples, samples, stop, st,
                                               regroup_vote_ && regroup_vote_());
    if (st.total_samples > 0) kernels::scale(at_, grad, static_cast<float>(1.0 / st.total_samples), n);
    return consensus;
  }

 private:
  comm::Collective& c_;
  kernels::Place at_;        // where the gradient lives
  kernels::HostBuffer ctl_;  // the control values on the host
  std::function<double()> network_delay_;
  std::function<bool()> regroup_vote_;
};

}  // namespace

std::unique_ptr<Synchronizer> make_allreduce_gradients(const SyncContext& ctx) {
  return std::make_unique<Ssgd>(ctx);
}

}  // namespace esync::sync
