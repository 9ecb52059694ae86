#include "train/background_eval.hpp"

#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <cmath>

#include "train/evaluate.hpp"

namespace esync::train {

BackgroundEval::BackgroundEval(std::shared_ptr<Net> twin, const Split& test, std::int64_t classes, JsonlLog& log,
                               double f_star, double f0, std::size_t max_pending_bytes)
    : model_(std::move(twin)), test_(test), classes_(classes), log_(log), f_star_(f_star), f0_(f0),
      max_pending_(max_pending_bytes) {
  thread_ = std::thread([this] { loop(); });
}

BackgroundEval::~BackgroundEval() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool BackgroundEval::submit(const torch::Tensor& flat, nlohmann::json fields, bool force) {
  const std::size_t bytes = static_cast<std::size_t>(flat.numel()) * flat.element_size();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!force && !queue_.empty() && (queue_.size() + 1) * bytes > max_pending_) return false;
    queue_.emplace_back(flat.clone(), std::move(fields));  // training goes on modifying its buffer
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
    if (queue_.empty()) return;  // closing and drained
    auto [flat, fields] = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lk.unlock();
    auto result = evaluate_one(flat, std::move(fields));
    lk.lock();
    last_ = std::move(result);
    busy_ = false;
    cv_.notify_all();
  }
}

nlohmann::json BackgroundEval::evaluate_one(const torch::Tensor& flat, nlohmann::json fields) {
  model_.flat().copy_(flat);
  const auto r = evaluate(model_.net(), test_, classes_);
  fields["loss"] = r.loss;
  if (r.acc >= 0) fields["acc"] = r.acc;
  if (!std::isnan(f_star_)) {
    if (std::isnan(f0_.load())) f0_ = r.loss;  // only this thread writes f0_
    fields["gap"] = r.loss - f_star_;
    fields["rel_gap"] = (r.loss - f_star_) / (f0_.load() - f_star_);
  }
  log_.write("eval", fields);
  return fields;
}

nlohmann::json BackgroundEval::finish() {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return queue_.empty() && !busy_; });
  return last_;
}

}  // namespace esync::train
