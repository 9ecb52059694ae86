#pragma once
// The resumable state of esync local and its checkpoint round trip.
#include <cmath>
#include <string>

#include "esync/optimizer.hpp"
#include "esync/train_config.hpp"
#include "train/flat_model.hpp"

namespace esync::train {

struct LocalState {
  std::int64_t step = 0;     // optimiser steps done
  std::int64_t samples = 0;  // training samples seen
  double f0 = NAN;           // loss at step 0 (least squares: F(0))
};

void save_checkpoint(const LocalConfig& cfg, FlatModel& fm, FlatOptimizer& opt, const LocalState& st);
// Loads cfg.resume into fm and opt; ConfigError if it was written for another model or set-up.
LocalState resume_from(const LocalConfig& cfg, FlatModel& fm, FlatOptimizer& opt);
std::string host_name();

}  // namespace esync::train
