#pragma once
// Evaluation off the training path. Rank 0 hands a copy of the flat weights, stamped with the
// moment it was taken, to a queue; one evaluator thread at idle CPU priority (SCHED_IDLE)
// evaluates the snapshots in order and logs each "eval" event with the snapshot's stamp. So an
// evaluation never takes a core from a training process (it runs on cycles nobody else wants;
// on a busy machine the queue grows and drains when training ends), while accuracy-vs-time
// stays exact: it is the accuracy of the weights as they were at that time.
// When training ends, the snapshots still queued are evaluated by the caller at its own
// priority: on a host whose cores are all busy an idle-priority thread gets almost no CPU, and
// waiting for it would stall the end of the job for minutes.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include "esync/jsonl_log.hpp"
#include "esync/log_events.hpp"
#include "train/data/dataset.hpp"
#include "train/flat_model.hpp"

namespace esync::train {

class BackgroundEval {
 public:
  // f_star: the optimum of a least-squares objective (NaN otherwise); then every event also
  // carries gap = F - F* and rel_gap = (F - F*) / (F0 - F*), F0 from the first evaluation
  // unless given (a resumed job keeps the F0 of the job it continues).
  // max_pending_bytes bounds the snapshots waiting (a submit beyond it is skipped).
  BackgroundEval(std::shared_ptr<Net> twin, const Split& test, std::int64_t classes, JsonlLog& log,
                 double f_star, double f0 = std::numeric_limits<double>::quiet_NaN(),
                 std::size_t max_pending_bytes = std::size_t{256} << 20);
  ~BackgroundEval();
  // Queues a snapshot of `flat` with its stamp (round, epoch, samples_seen, wall_s; the loss,
  // accuracy and gaps are filled in). false: skipped (queue full), unless force (the final
  // evaluation is never skipped).
  bool submit(const torch::Tensor& flat, logev::Eval stamp, bool force = false);
  // Evaluates `flat` on the calling thread and logs it; only before the first submit (the
  // evaluator thread then has nothing in hand).
  void evaluate_now(const torch::Tensor& flat, logev::Eval stamp);
  // Stops the idle-priority thread (within one small batch of its current evaluation, which it
  // leaves in the queue), then evaluates every queued snapshot on the calling thread; returns the
  // last result (none when nothing was evaluated). Call once, when training is over.
  std::optional<logev::Eval> finish();
  double f0() const { return f0_.load(); }              // NaN until the first evaluation (least squares)
  double last_acc() const { return last_acc_.load(); }  // the latest test accuracy logged; -1: none

 private:
  void loop();
  // nullopt: cancelled by finish() before the end (nothing logged).
  std::optional<logev::Eval> evaluate_one(const torch::Tensor& flat, logev::Eval ev,
                                          const std::atomic<bool>* cancel);
  void stop_thread();

  FlatModel model_;
  const Split& test_;
  std::int64_t classes_;
  JsonlLog& log_;
  double f_star_;
  std::atomic<double> f0_;
  std::atomic<double> last_acc_{-1};
  std::size_t max_pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<torch::Tensor, logev::Eval>> queue_;
  bool closing_ = false;
  std::atomic<bool> hurry_{false};  // finish(): the thread gives its work back and ends
  std::optional<logev::Eval> last_;
  std::thread thread_;
};

}  // namespace esync::train
