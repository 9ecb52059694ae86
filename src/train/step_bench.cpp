// esync bench step: the cost of one training step (forward, backward, flat optimiser step) on
// random input of the model's shape, measured after a warm-up for a fixed minimum time.
#include <ATen/Parallel.h>

#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "esync/train_config.hpp"
#include "train/flat_model.hpp"
#include "train/threads.hpp"

namespace esync::train {

nlohmann::json run_step_bench(const StepBenchConfig& cfg) {
  ESYNC_CHECK_T(ConfigError, cfg.batch > 0 && cfg.threads > 0, "--batch and --threads must be > 0");
  set_compute_threads(cfg.threads);
  torch::manual_seed(0);
  FlatModel fm(make_model(cfg.model, cfg.input, cfg.classes));
  OptimizerConfig oc;
  oc.kind = cfg.optimizer;
  FlatOptimizer opt(oc, static_cast<std::size_t>(fm.num_params()));
  std::vector<std::int64_t> shape = {cfg.batch};
  shape.insert(shape.end(), cfg.input.begin(), cfg.input.end());
  // A pool of batches, so the benchmark is not measuring one cached input.
  std::vector<torch::Tensor> xs, ys;
  for (int i = 0; i < 8; ++i) {
    xs.push_back(torch::randn(shape));
    ys.push_back(cfg.classes > 0 ? torch::randint(cfg.classes, {cfg.batch}, torch::kInt64)
                                 : torch::randn({cfg.batch}));
  }
  auto step = [&](int i) {
    fm.zero_grad();
    auto loss = loss_fn(fm.net().forward(xs[i % 8]), ys[i % 8], cfg.classes);
    loss.backward();
    opt.step(fm.data(), fm.grad_data(), 0.01f);
  };
  for (int i = 0; i < cfg.warmup; ++i) step(i);
  std::int64_t steps = 0;
  const double t0 = mono_s();
  double el = 0;
  while (el < cfg.seconds || steps < 10) {
    step(static_cast<int>(steps));
    ++steps;
    el = mono_s() - t0;
  }
  return {{"model", cfg.model},
          {"batch", cfg.batch},
          {"threads", cfg.threads},
          {"steps", steps},
          {"seconds", el},
          {"step_ms", 1e3 * el / double(steps)},
          {"samples_per_s", double(steps * cfg.batch) / el},
          {"num_params", fm.num_params()}};
}

}  // namespace esync::train
