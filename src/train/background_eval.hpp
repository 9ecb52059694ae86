#pragma once
// Evaluation off the training thread: rank 0 hands a snapshot of the flat weights to a second
// model instance evaluated on its own thread, so an evaluation never stalls a round (and with
// it every other worker). If the previous evaluation is still running the new one is skipped.
#include <future>
#include <limits>
#include <nlohmann/json.hpp>

#include "esync/jsonl_log.hpp"
#include "train/data/dataset.hpp"
#include "train/flat_model.hpp"

namespace esync::train {

class BackgroundEval {
 public:
  // f_star: the optimum of a least-squares objective (NaN otherwise); then every event also
  // carries gap = F - F* and rel_gap = (F - F*) / (F0 - F*), F0 from the first evaluation.
  BackgroundEval(std::shared_ptr<Net> twin, const Split& test, std::int64_t classes, JsonlLog& log, double f_star);
  ~BackgroundEval();
  // Starts an evaluation of `flat` unless one is running; fields go into the "eval" event.
  bool submit(const torch::Tensor& flat, nlohmann::json fields);
  // Waits for the running evaluation (if any) and returns the last result logged.
  nlohmann::json finish();

 private:
  FlatModel model_;
  const Split& test_;
  std::int64_t classes_;
  JsonlLog& log_;
  std::future<nlohmann::json> running_;
  nlohmann::json last_;
  double f_star_, f0_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace esync::train
