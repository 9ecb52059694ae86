// The sources of K (k_planner.hpp). ESync's (seed 004): at round r every worker holds w_r and
// runs K_i local steps, K_i from the state server so that fast and slow devices finish together;
// the round's average is model_averaging.cpp's.
#include "esync/assignment.hpp"
#include "esync/clock.hpp"
#include "esync/coord_client.hpp"
#include "esync/error.hpp"
#include "k_planner.hpp"

namespace esync::sync {

namespace {

// local-SGD: the same K on every worker, every round.
class FixedK final : public KPlanner {
 public:
  explicit FixedK(int k) : k_(k) {}
  Steps begin(std::uint64_t, double, int) override { return {k_, k_}; }

 private:
  int k_;
};

// assign: one report a round (the last round's device step time and steps), sent ahead of the
// synchronisation; the reply is this worker's K.
class AssignK : public KPlanner {
 public:
  explicit AssignK(coord::CoordinatorClient& co) : co_(co) {}
  Steps begin(std::uint64_t round, double mean_step_s, int k_done) override {
    const int k = co_.report(round, k_done, mean_step_s);
    return {k, k};
  }
  void ahead(std::uint64_t next_round, double mean_step_s, int k_done) override {
    co_.report_ahead(next_round, k_done, mean_step_s);
  }

 protected:
  coord::CoordinatorClient& co_;
};

// deadline (rule and math: coord::deadline_takes_step): the plan names the round's pacer, who
// runs exactly its K, and a deadline the others step until. The round's clock starts when the
// plan arrives; the next step is expected to take the mean of this round's steps so far,
// blended with the last round's mean (a single step is a noisy estimate).
class DeadlineK final : public AssignK {
 public:
  DeadlineK(coord::CoordinatorClient& co, int k_max) : AssignK(co), k_max_(k_max) {}
  Steps begin(std::uint64_t round, double mean_step_s, int k_done) override {
    plan_ = co_.report_plan(round, k_done, mean_step_s);
    start_ = mono_s();
    last_mean_ = mean_step_s;
    return {plan_.deadline_s > 0 ? k_max_ : plan_.k, plan_.k};
  }
  bool stop_after(std::uint64_t, double, int steps, double step_sum) override {
    if (plan_.deadline_s <= 0) return false;
    const double expect = (step_sum + last_mean_) / (steps + (last_mean_ > 0 ? 1 : 0));
    return !coord::deadline_takes_step(mono_s() - start_, expect, plan_.deadline_s, plan_.share);
  }

 private:
  int k_max_;
  coord::CoordinatorClient::RoundPlan plan_;
  double start_ = 0, last_mean_ = 0;
};

// poll (the original ESync rule): keep stepping until the state server says "ready", at most
// K_max steps.
class PollK final : public KPlanner {
 public:
  PollK(coord::CoordinatorClient& co, int k_max) : co_(co), k_max_(k_max) {}
  Steps begin(std::uint64_t round, double, int) override {
    co_.poll_start(round);
    return {k_max_, k_max_};
  }
  bool stop_after(std::uint64_t round, double step_s, int, double) override {
    return co_.poll_ready(round, step_s);
  }

 private:
  coord::CoordinatorClient& co_;
  int k_max_;
};

}  // namespace

std::unique_ptr<KPlanner> make_k_planner(KSource source, const SyncContext& ctx) {
  switch (source) {
    case KSource::one:
      return std::make_unique<FixedK>(1);
    case KSource::fixed:
      ESYNC_CHECK_T(ConfigError, ctx.k_fixed >= 1, "--k-fixed must be >= 1");
      return std::make_unique<FixedK>(ctx.k_fixed);
    case KSource::state_server:
      break;
  }
  ESYNC_CHECK_T(ConfigError, ctx.coordinator != nullptr,
                "a K planned by the state server needs the state server");
  if (ctx.policy == "poll") return std::make_unique<PollK>(*ctx.coordinator, ctx.k_max);
  if (ctx.policy == "deadline") return std::make_unique<DeadlineK>(*ctx.coordinator, ctx.k_max);
  ESYNC_CHECK_T(ConfigError, ctx.policy == "assign", "unknown --policy '", ctx.policy,
                "' (expected assign, deadline or poll)");
  return std::make_unique<AssignK>(*ctx.coordinator);
}

}  // namespace esync::sync
