#pragma once
// ESync and local-SGD share one round structure (model averaging after K local steps) and
// differ only in where K comes from (k_planner.hpp): the state server, or a constant. The averaged delta goes
// through an allreduce or, when the job has one, the parameter server (which applies it).
//
// With --overlap the reduction of round r runs on a thread behind round r+1's local steps, so a
// fast worker waits for the others or the network only when they are a whole round late
// (delayed averaging, as in Overlap Local-SGD, Wang et al. 2020). Worker i keeps
// w_i = G_r + p_i: the last global model it knows plus its own progress since. At the end of
// round r+1 it takes G_{r+1} from the reduction of round r, replaces G_r by it
// (w_i = G_{r+1} + p_i), and launches the reduction of this round's progress p_i = w_i - G_{r+1}:
//     G_{r+2} = G_{r+1} + eta_global * average of the p_i  (weighted as averaging.hpp says).
// The global sequence is ESync's; each local step sees the others' progress one round late.
//
// With SCAFFOLD (Karimireddy et al. 2020; --drift-correction scaffold), against the drift of
// local steps on non-iid data: worker i keeps a control variate c_i (its mean gradient over its
// last round) and the job's c (their a-weighted mean); every local step uses g + c - c_i instead
// of g, so each worker follows the job's direction plus its own noise, not its own data's
// optimum. c_i+ is the mean of the round's raw gradients (not option II's (x - y_i) / (K lr),
// which momentum would inflate by 1 / (1 - beta)); the change a_i (c_i+ - c_i) rides in the
// same reduction as the model's, after it, and c += sum a_i (c_i+ - c_i) / sum a_i. Allreduce
// without --overlap only.
#include <functional>
#include <memory>

#include "esync/place.hpp"
#include "esync/synchronizer.hpp"
#include "esync/work.hpp"
#include "k_planner.hpp"

namespace esync::sync {

class ModelAveraging : public Synchronizer {
 public:
  ModelAveraging(std::string mode, const SyncContext& ctx, std::unique_ptr<KPlanner> k);
  std::string mode() const override { return mode_; }
  int begin_round(std::uint64_t round, const float* w, std::size_t n, double mean_step_s) override;
  int planned_steps(int) const override { return planned_; }
  bool step_done(std::uint64_t round, double step_s) override {
    ++steps_;
    step_sum_ += step_s;
    return k_->stop_after(round, step_s, steps_, step_sum_);
  }
  void correct_gradient(float* grad, std::size_t n_params) override;
  bool end_round(float* w, std::size_t n, double samples, bool stop, SyncStats& st) override;
  bool settle(float* w, std::size_t n, SyncStats& st) override;
  const float* global_model() const override { return pending_.valid() ? w_ref_.data() : nullptr; }
  // w_ref_ from begin_round on: a reduction that fails leaves it as it was.
  const float* agreed_model() const override { return w_ref_.empty() ? nullptr : w_ref_.data(); }
  // Waits for a reduction still in flight (its transport is about to close; the collectives'
  // timeouts bound the wait); its outcome no longer matters.
  ~ModelAveraging() override;

 private:
  struct Outcome {
    bool stop = false;
    SyncStats st;
  };
  // One reduction of delta_ (this worker's weighted progress since w_ref_, averaging.hpp): the new
  // global model into `out`, its kernels queued on `on`. Runs on the caller's thread at at_, or
  // (overlap) on the pending one at the side stream. delay_s: injected network delay (--delay),
  // slept first.
  bool exchange(const kernels::Place& on, float* out, std::size_t n, double samples, double weight, bool stop,
                double delay_s, SyncStats& st);
  // Waits for the pending reduction and moves w onto its result (w = G + w - anchor).
  bool collect(float* w, std::size_t n, SyncStats& st);
  // b holds n floats at the synchroniser's Place (reallocated, zeroed, when its size differs).
  void fit(kernels::Buffer& b, std::size_t n) const;

  std::string mode_;
  kernels::Place at_;  // where w and every buffer below live (SyncContext::place)
  comm::Collective* c_;
  ps::PsClient* ps_;
  double ps_seen_ = 0;
  std::uint64_t round_ = 0;
  int steps_ = 0;        // local steps of the current round
  double step_sum_ = 0;  // and their device time
  int planned_ = 1;      // K planned for it
  float global_lr_;
  Weighting weighting_;
  std::size_t params_;  // floats of the buffer that are parameters (BatchNorm buffers follow)
  std::unique_ptr<KPlanner> k_;
  bool overlap_;
  std::function<double()> network_delay_;
  std::chrono::milliseconds timeout_;
  std::function<bool()> regroup_vote_;
  double pending_delay_s_ = 0;  // the injected delay of the reduction in flight
  // w_ref_: the global model the round's progress is measured from; delta_: the progress in
  // flight; anchor_: w when it was sent; global_: the reduction's result (overlap only).
  kernels::Buffer w_ref_, delta_, anchor_, global_;
  // SCAFFOLD: the job's c, this worker's c_i, c - c_i (added to each gradient), the round's sum
  // of raw gradients.
  bool scaffold_;
  kernels::Buffer cv_job_, cv_mine_, cv_corr_, grad_sum_;
  kernels::HostBuffer ctl_;      // the control values on the host (reduce_with_control)
  kernels::SideStream side_;     // --overlap: where the reduction in flight runs
  comm::Work<Outcome> pending_;  // --overlap: the reduction of the previous round (destroyed first)
};

}  // namespace esync::sync
