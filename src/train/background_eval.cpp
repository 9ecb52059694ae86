#include "train/background_eval.hpp"

#include <omp.h>

#include <cmath>

#include "train/evaluate.hpp"

namespace esync::train {

BackgroundEval::BackgroundEval(std::shared_ptr<Net> twin, const Split& test, std::int64_t classes, JsonlLog& log,
                               double f_star)
    : model_(std::move(twin)), test_(test), classes_(classes), log_(log), f_star_(f_star) {}

BackgroundEval::~BackgroundEval() {
  if (running_.valid()) running_.wait();
}

bool BackgroundEval::submit(const torch::Tensor& flat, nlohmann::json fields) {
  if (running_.valid()) {
    if (running_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return false;
    last_ = running_.get();
  }
  model_.flat().copy_(flat);  // the snapshot: training goes on modifying its own buffer
  running_ = std::async(std::launch::async, [this, fields = std::move(fields)]() mutable {
    omp_set_num_threads(1);  // one core for evaluation; the workers own the rest
    const auto r = evaluate(model_.net(), test_, classes_);
    fields["loss"] = r.loss;
    if (r.acc >= 0) fields["acc"] = r.acc;
    if (!std::isnan(f_star_)) {
      if (std::isnan(f0_)) f0_ = r.loss;  // only this thread touches f0_
      fields["gap"] = r.loss - f_star_;
      fields["rel_gap"] = (r.loss - f_star_) / (f0_ - f_star_);
    }
    log_.write("eval", fields);
    return fields;
  });
  return true;
}

nlohmann::json BackgroundEval::finish() {
  if (running_.valid()) last_ = running_.get();
  return last_;
}

}  // namespace esync::train
