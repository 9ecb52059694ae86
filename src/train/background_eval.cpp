#include "train/background_eval.hpp"

#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <cmath>

#include "esync/error.hpp"
#include "train/evaluate.hpp"

namespace esync::train {

BackgroundEval::BackgroundEval(std::shared_ptr<Net> twin, const Split& test, std::int64_t classes,
                               JsonlLog& log, double f_star, double f0, std::size_t max_pending_bytes)
    : model_(std::move(twin)),
      test_(test),
      classes_(classes),
      log_(log),
      f_star_(f_star),
      f0_(f0),
      max_pending_(max_pending_bytes) {
  thread_ = std::thread([this] { loop(); });
}

BackgroundEval::~BackgroundEval() { stop_thread(); }

void BackgroundEval::stop_thread() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    closing_ = true;
    hurry_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool BackgroundEval::submit(const torch::Tensor& flat, logev::Eval stamp, bool force) {
  const std::size_t bytes = static_cast<std::size_t>(flat.numel()) * flat.element_size();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!force && !queue_.empty() && (queue_.size() + 1) * bytes > max_pending_) return false;
  }
  // A host copy: training goes on modifying its buffer, and the evaluator's twin is on the CPU.
  auto copy = flat.to(torch::kCPU, flat.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
  {
    std::lock_guard<std::mutex> lk(mu_);
    queue_.emplace_back(std::move(copy), stamp);
  }
  cv_.notify_all();
  return true;
}

void BackgroundEval::loop() {
  // Idle priority: this thread gets a core only when no training thread wants one. Where the
  // policy is refused, it runs at normal priority (still off the training thread).
  sched_param none{};
  none.sched_priority = 0;
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);
  omp_set_num_threads(1);
  for (;;) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return closing_ || !queue_.empty(); });
    if (closing_) return;        // finish() evaluates what is left
    auto item = queue_.front();  // stays queued until evaluated: finish() may take it over
    lk.unlock();
    auto result = evaluate_one(item.first, item.second, &hurry_);
    lk.lock();
    if (!result) return;  // cancelled mid-way: the item is still at the front
    queue_.pop_front();
    last_ = std::move(*result);
  }
}

std::optional<logev::Eval> BackgroundEval::evaluate_one(const torch::Tensor& flat, logev::Eval ev,
                                                        const std::atomic<bool>* cancel) {
  model_.flat().copy_(flat);
  // Small batches on the idle thread so that a cancel is seen soon even when it is starved.
  const auto r = evaluate(model_.net(), test_, classes_, cancel ? 250 : 1000, cancel);
  if (!r.complete) return std::nullopt;
  // one writer of f0 at a time: before, during or after the thread
  if (!std::isnan(f_star_) && std::isnan(f0_.load())) f0_ = r.loss;
  fill_eval(ev, r, f_star_, f0_.load());
  log_.write(ev);
  if (ev.acc) last_acc_ = *ev.acc;
  return ev;
}

void BackgroundEval::evaluate_now(const torch::Tensor& flat, logev::Eval stamp) {
  std::lock_guard<std::mutex> lk(mu_);
  ESYNC_CHECK(queue_.empty() && !last_, "evaluate_now after a snapshot was queued");
  last_ = evaluate_one(flat, stamp, nullptr);
}

std::optional<logev::Eval> BackgroundEval::finish() {
  stop_thread();
  // Training is over: the rest runs at the caller's priority, in snapshot order.
  for (; !queue_.empty(); queue_.pop_front())
    last_ = evaluate_one(queue_.front().first, queue_.front().second, nullptr);
  return last_;
}

}  // namespace esync::train
