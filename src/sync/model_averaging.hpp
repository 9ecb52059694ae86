#pragma once
// ESync and local-SGD share one round structure (model averaging after K local steps) and
// differ only in where K comes from: the state server, or a constant. The averaged delta goes
// through an allreduce or, when the job has one, the parameter server (which applies it).
#include <functional>
#include <vector>

#include "esync/synchronizer.hpp"

namespace esync::sync {

class ModelAveraging : public Synchronizer {
 public:
  // The round's steps: `bound` ends the loop (stop_early may end it sooner), `planned` is what
  // the logs call K_assigned. k_done: the steps this worker took in the previous round.
  struct Steps {
    int bound, planned;
  };
  using Plan = std::function<Steps(std::uint64_t round, double mean_step_s, int k_done)>;
  // After each step: the step's device time, and the round's steps and device time so far.
  using StopEarly = std::function<bool(std::uint64_t round, double step_s, int steps, double step_sum)>;
  // Optional: asks for the next round's plan before this round's synchronisation (its round trip
  // then overlaps the reduction and the wait for the others), with this round's mean step time.
  using Ahead = std::function<void(std::uint64_t next_round, double mean_step_s, int k_done)>;
  ModelAveraging(std::string mode, const SyncContext& ctx, Plan plan, StopEarly stop_early, Ahead ahead = nullptr);
  std::string mode() const override { return mode_; }
  int begin_round(std::uint64_t round, const float* w, std::size_t n, double mean_step_s) override;
  int planned_steps(int) const override { return planned_; }
  bool step_done(std::uint64_t round, double step_s) override {
    ++steps_;
    step_sum_ += step_s;
    return stop_early_ && stop_early_(round, step_s, steps_, step_sum_);
  }
  bool end_round(float* w, std::size_t n, double samples, bool stop, SyncStats& st) override;

 private:
  std::string mode_;
  comm::Collective* c_;
  ps::PsClient* ps_;
  double ps_seen_ = 0;
  std::uint64_t round_ = 0;
  int steps_ = 0;         // local steps of the current round
  double step_sum_ = 0;   // and their device time
  int planned_ = 1;       // K planned for it
  float global_lr_;
  Plan plan_;
  StopEarly stop_early_;
  Ahead ahead_;
  std::vector<float> w_ref_, delta_;
};

}  // namespace esync::sync
