// The round of ESync and local-SGD (model_averaging.hpp): K local steps, then one reduction of
// every worker's weighted progress (averaging.hpp), applied with the global learning rate. With
// --overlap the reduction runs on its own thread while the next round's local steps go on.
#include "model_averaging.hpp"

#include <algorithm>

#include "esync/clock.hpp"
#include "esync/collective.hpp"
#include "esync/error.hpp"
#include "esync/heterogeneity.hpp"

namespace esync::sync {

ModelAveraging::ModelAveraging(std::string mode, const SyncContext& ctx, std::unique_ptr<KPlanner> k)
    : mode_(std::move(mode)),
      at_(ctx.place),
      c_(ctx.collective),
      ps_(ctx.ps),
      global_lr_(ctx.global_lr),
      weighting_(ctx.weighting),
      params_(ctx.params),
      k_(std::move(k)),
      overlap_(ctx.overlap),
      network_delay_(ctx.network_delay),
      timeout_(ctx.timeout),
      regroup_vote_(ctx.regroup_vote),
      scaffold_(ctx.scaffold) {
  ESYNC_CHECK_T(ConfigError, !scaffold_ || (c_ && !ps_ && !overlap_),
                "--drift-correction scaffold needs an allreduce job without --overlap");
  // The parameter server's client sends and receives host memory.
  ESYNC_CHECK_T(ConfigError, !ps_ || !at_.is_cuda(),
                "a parameter-server job synchronises through host memory, not ", at_.name());
  if (overlap_) side_ = kernels::SideStream(at_);
  // Page-locked now, not on the reduction thread beside the steps (cudaHostAlloc synchronises).
  if (c_) ctl_ = kernels::HostBuffer(at_, control_slots(c_->size()));
}

ModelAveraging::~ModelAveraging() = default;  // Work's destructor waits for a reduction in flight

int ModelAveraging::begin_round(std::uint64_t round, const float* w, std::size_t n, double mean_step_s) {
  // With a reduction in flight, w_ref_ is its base (the global model this worker knows) and
  // stays; otherwise w is the global model.
  if (!pending_.valid()) {
    fit(w_ref_, n);
    kernels::copy(at_, w_ref_.data(), w, n);
  }
  if (scaffold_ && grad_sum_.empty()) {  // the job's first round: c = c_i = 0
    const std::size_t p = std::min(params_, n);
    fit(grad_sum_, p), fit(cv_job_, p), fit(cv_mine_, p), fit(cv_corr_, p);
  }
  kernels::zero(at_, grad_sum_.data(), grad_sum_.size());
  const KPlanner::Steps k = k_->begin(round, mean_step_s, steps_);
  round_ = round;
  steps_ = 0, step_sum_ = 0;
  planned_ = k.planned;
  return k.bound;
}

void ModelAveraging::correct_gradient(float* grad, std::size_t n_params) {
  if (!scaffold_) return;
  ESYNC_CHECK(grad_sum_.size() == n_params, "correct_gradient: ", n_params,
              " parameters, the round began with ", grad_sum_.size());
  kernels::axpy(at_, grad_sum_.data(), 1.0f, grad, n_params);
  kernels::axpy(at_, grad, 1.0f, cv_corr_.data(), n_params);
}

void ModelAveraging::fit(kernels::Buffer& b, std::size_t n) const {
  if (b.size() != n) b = kernels::Buffer(at_, n);
}

bool ModelAveraging::exchange(const kernels::Place& on, float* out, std::size_t n, double samples,
                              double weight, bool stop, double delay_s, SyncStats& st) {
  st.delay_s += sleep_s(delay_s);  // a slower network (--delay): behind the steps too, with overlap
  if (ps_)
    return ps_exchange(*ps_, out, delta_.data(), samples, weight, stop, st,
                       ps_seen_);                            // the server applies it
  const std::size_t extra = scaffold_ ? cv_job_.size() : 0;  // SCAFFOLD: a_i (c_i+ - c_i) after the model
  const bool consensus = reduce_with_control(*c_, on, delta_.data(), n + extra, ctl_, samples, weight, stop,
                                             st, regroup_vote_ && regroup_vote_());
  apply_average(out, w_ref_.data(), delta_.data(), n, params_,
                round_scales(weighting_, global_lr_, st.total_samples, st.total_weight), on);
  if (extra > 0 && st.total_weight > 0) {  // c += sum a_i (c_i+ - c_i) / sum a_i; the correction c - c_i
    kernels::axpy(at_, cv_job_.data(), static_cast<float>(1.0 / st.total_weight), delta_.data() + n, extra);
    kernels::esync_delta(at_, cv_corr_.data(), cv_job_.data(), cv_mine_.data(), 1.0f, extra);
  }
  return consensus;
}

bool ModelAveraging::collect(float* w, std::size_t n, SyncStats& st) {
  const double t0 = mono_s();
  // Rethrows the reduction's error (a dead peer, its own timeout). Each of its calls is bounded
  // by the timeout; the PS path makes two (push, pull), and the injected delay comes first.
  Outcome o =
      pending_.wait(2 * timeout_ + std::chrono::milliseconds(static_cast<long>(1000 * pending_delay_s_)));
  const double held = mono_s() - t0;
  // Only the time this worker was held up counts as waiting; the rest ran behind its steps.
  st.hidden_s += std::max(0.0, o.st.delay_s + o.st.comm_s + o.st.wait_s - held);
  o.st.delay_s = 0, o.st.comm_s = 0, o.st.wait_s = held;
  st.add(o.st);
  // w = G + (w - anchor), in this order so that w is exactly G on every rank when no step was
  // taken since the reduction left (settle), whatever the rounding of w - anchor otherwise
  // (w + -1 x anchor is w - anchor exactly, then 1 x G is added).
  kernels::axpy(at_, w, -1.0f, anchor_.data(), n);
  kernels::axpy(at_, w, 1.0f, global_.data(), n);
  std::swap(w_ref_, global_);
  return o.stop;
}

bool ModelAveraging::end_round(float* w, std::size_t n, double samples, bool stop, SyncStats& st) {
  ESYNC_CHECK(w_ref_.size() == n, "end_round without begin_round");
  // The next round's plan is asked for now: if the job stops at this synchronisation, the
  // state server has answered a round that never runs (its "assign" event is the last one).
  if (steps_ > 0 && !stop) k_->ahead(round_ + 1, step_sum_ / steps_, steps_);
  const bool before = pending_.valid() && collect(w, n, st);  // overlap: the previous round's outcome
  const std::size_t extra = scaffold_ ? grad_sum_.size() : 0;
  fit(delta_, n + extra + (c_ ? control_slots(c_->size()) : 0));
  const Contribution mine = contribution(weighting_, samples, steps_);
  weighted_change(delta_.data(), w, w_ref_.data(), n, params_, mine, at_);
  if (extra > 0) {
    // c_i+ = the round's mean raw gradient (c_i itself when no step was taken); its change,
    // weighted like the model's, joins the reduction.
    float* dc = delta_.data() + n;
    if (steps_ > 0) {
      kernels::scale(at_, grad_sum_.data(), 1.0f / static_cast<float>(steps_), extra);
      kernels::esync_delta(at_, dc, grad_sum_.data(), cv_mine_.data(), static_cast<float>(mine.weight),
                           extra);
      kernels::copy(at_, cv_mine_.data(), grad_sum_.data(), extra);
    } else {
      kernels::zero(at_, dc, extra);
    }
  }
  const double delay_s = network_delay_ ? network_delay_() : 0.0;
  if (!overlap_) return exchange(at_, w, n, samples, mine.weight, stop, delay_s, st);
  fit(anchor_, n), fit(global_, n);
  kernels::copy(at_, anchor_.data(), w, n);
  // On a GPU the reduction runs on the side stream, after the kernels just queued (delta_,
  // anchor_) and beside the next round's steps; it is complete on the GPU when the thread ends.
  side_.follow(at_);
  pending_delay_s_ = delay_s;
  pending_ = comm::start_async<Outcome>("the reduction of round " + std::to_string(round_),
                                        [this, n, samples, weight = mine.weight, stop, delay_s] {
                                          Outcome o;
                                          o.stop = exchange(side_.place(), global_.data(), n, samples, weight,
                                                            stop, delay_s, o.st);
                                          kernels::wait(side_.place());
                                          return o;
                                        });
  return before;
}

bool ModelAveraging::settle(float* w, std::size_t n, SyncStats& st) {
  return pending_.valid() && collect(w, n, st);
}

}  // namespace esync::sync
