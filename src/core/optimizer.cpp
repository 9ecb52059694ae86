#include "esync/optimizer.hpp"

#include "esync/error.hpp"

namespace esync {

FlatOptimizer::FlatOptimizer(OptimizerConfig cfg, std::size_t n) : cfg_(std::move(cfg)), n_(n) {
  if (cfg_.kind == "sgd") {
    cfg_.momentum = 0.0f;
  } else if (cfg_.kind == "momentum") {
    buf_a_.assign(n, 0.0f);
  } else if (cfg_.kind == "adam") {
    buf_a_.assign(n, 0.0f);
    buf_b_.assign(n, 0.0f);
  } else {
    ESYNC_THROW(ConfigError, "unknown optimizer '", cfg_.kind, "' (expected sgd, momentum or adam)");
  }
}

void FlatOptimizer::step(float* w, const float* g, float lr) {
  ++steps_;
  if (cfg_.kind == "adam") {
    kernels::AdamParams p{lr, cfg_.beta1, cfg_.beta2, cfg_.eps, cfg_.weight_decay};
    kernels::cpu::adam_update(w, g, buf_a_.data(), buf_b_.data(), n_, p, steps_);
    return;
  }
  kernels::SgdParams p{lr, cfg_.momentum, cfg_.weight_decay, cfg_.nesterov};
  kernels::cpu::sgd_update(w, g, buf_a_.empty() ? nullptr : buf_a_.data(), n_, p);
}

std::vector<std::pair<std::string, std::vector<float>*>> FlatOptimizer::state() {
  std::vector<std::pair<std::string, std::vector<float>*>> out;
  if (cfg_.kind == "momentum") out.emplace_back("opt.momentum", &buf_a_);
  if (cfg_.kind == "adam") {
    out.emplace_back("opt.adam_m", &buf_a_);
    out.emplace_back("opt.adam_v", &buf_b_);
  }
  return out;
}

}  // namespace esync
