#pragma once
// The optimiser on flat buffers: one kernel call updates every parameter of the model, because
// parameters and gradients are views into one contiguous buffer each. The same
// object serves esync local, the SSGD step after the allreduce, and ESync's local steps. Its
// state lives at the Place of the weights it updates (a GPU worker's optimiser never leaves the GPU).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "esync/place.hpp"

namespace esync {

// The defaults of every trainer (esync local, and a job's JobConfig).
inline constexpr const char* kDefaultOptimizer = "momentum";
inline constexpr double kDefaultLr = 0.02, kDefaultMomentum = 0.9;

struct OptimizerConfig {
  std::string kind = kDefaultOptimizer;  // sgd | momentum | adam
  float lr = static_cast<float>(kDefaultLr);
  float momentum = static_cast<float>(kDefaultMomentum);  // used by "momentum"
  float weight_decay = 0.0f;
  bool nesterov = false;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  // adam
};

class FlatOptimizer {
 public:
  FlatOptimizer(OptimizerConfig cfg, std::size_t n, kernels::Place place = {});
  // One step on n elements at learning rate lr (the schedule's value for this step); w and g at
  // the optimiser's Place.
  void step(float* w, const float* g, float lr);
  const OptimizerConfig& config() const { return cfg_; }
  std::int64_t steps() const { return steps_; }
  // Named state buffers for checkpoints (momentum, or Adam's m and v) and the step counter.
  std::vector<std::pair<std::string, kernels::Buffer*>> state();
  void set_steps(std::int64_t s) { steps_ = s; }

 private:
  OptimizerConfig cfg_;
  std::size_t n_;
  kernels::Place place_;
  std::int64_t steps_ = 0;
  kernels::Buffer buf_a_, buf_b_;
};

// Learning-rate schedule: none, cosine (to 0 at total_steps), exponential (x gamma per epoch),
// each after an optional linear warm-up over the first `warmup` steps. A "step" is whatever the
// trainer counts: optimiser steps in esync local, samples of the whole job in a distributed job
// (the one count every worker and shard agrees on, whatever its batch).
struct LrSchedule {
  std::string kind = "none";
  float base_lr = 0.02f;
  std::int64_t total_steps = 1;
  std::int64_t steps_per_epoch = 1;
  float gamma = 0.9f;
  std::int64_t warmup = 0;
  float at(std::int64_t step) const;
};
// ConfigError unless kind is none | cosine | exponential.
void check_schedule(const std::string& kind);

}  // namespace esync
