#include "esync/optimizer.hpp"

#include "esync/error.hpp"

namespace esync {

FlatOptimizer::FlatOptimizer(OptimizerConfig cfg, std::size_t n, kernels::Place place)
    : cfg_(std::move(cfg)), n_(n), place_(place) {
  if (cfg_.kind == "sgd") {
    cfg_.momentum = 0.0f;
  } else if (cfg_.kind == "momentum") {
    buf_a_ = kernels::Buffer(place_, n);
  } else if (cfg_.kind == "adam") {
    buf_a_ = kernels::Buffer(place_, n);
    buf_b_ = kernels::Buffer(place_, n);
  } else {
    ESYNC_THROW(ConfigError, "unknown optimizer '", cfg_.kind, "' (expected sgd, momentum or adam)");
  }
}

void FlatOptimizer::step(float* w, const float* g, float lr) {
  ++steps_;
  if (cfg_.kind == "adam") {
    kernels::AdamParams p{lr, cfg_.beta1, cfg_.beta2, cfg_.eps, cfg_.weight_decay};
    kernels::adam_update(place_, w, g, buf_a_.data(), buf_b_.data(), n_, p, steps_);
    return;
  }
  kernels::SgdParams p{lr, cfg_.momentum, cfg_.weight_decay, cfg_.nesterov};
  kernels::sgd_update(place_, w, g, buf_a_.empty() ? nullptr : buf_a_.data(), n_, p);
}

std::vector<std::pair<std::string, kernels::Buffer*>> FlatOptimizer::state() {
  std::vector<std::pair<std::string, kernels::Buffer*>> out;
  if (cfg_.kind == "momentum") out.emplace_back("opt.momentum", &buf_a_);
  if (cfg_.kind == "adam") {
    out.emplace_back("opt.adam_m", &buf_a_);
    out.emplace_back("opt.adam_v", &buf_b_);
  }
  return out;
}

}  // namespace esync
