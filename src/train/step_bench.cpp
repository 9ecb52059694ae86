// esync bench step: the cost of one training step (forward, backward, flat optimiser step) on
// random input of the model's shape, on the CPU or a GPU, measured after a warm-up for a fixed
// minimum time. A GPU's queued steps are waited for before the clock is read.
#include <ATen/Parallel.h>

#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "esync/train_config.hpp"
#include "train/device.hpp"
#include "train/flat_model.hpp"
#include "train/threads.hpp"

namespace esync::train {

nlohmann::json run_step_bench(const StepBenchConfig& cfg) {
  ESYNC_CHECK_T(ConfigError, cfg.batch > 0 && cfg.threads > 0, "--batch and --threads must be > 0");
  require_trainable_device(cfg.device, "--device");
  const torch::Device dev = torch_device(cfg.device);
  set_compute_threads(cfg.threads);
  torch::manual_seed(0);
  auto net = make_model(cfg.model, cfg.input, cfg.classes);
  net->to(dev);
  FlatModel fm(net);
  OptimizerConfig oc;
  oc.kind = cfg.optimizer;
  FlatOptimizer opt(oc, static_cast<std::size_t>(fm.num_params()), fm.place());
  std::vector<std::int64_t> shape = {cfg.batch};
  shape.insert(shape.end(), cfg.input.begin(), cfg.input.end());
  // A pool of batches, so the benchmark is not measuring one cached input.
  std::vector<torch::Tensor> xs, ys;
  for (int i = 0; i < 8; ++i) {
    xs.push_back(torch::randn(shape).to(dev));
    ys.push_back((cfg.classes > 0 ? torch::randint(cfg.classes, {cfg.batch}, torch::kInt64)
                                  : torch::randn({cfg.batch}))
                     .to(dev));
  }
  auto step = [&](int i) {
    fm.zero_grad();
    auto loss = loss_fn(fm.net().forward(xs[i % 8]), ys[i % 8], cfg.classes);
    loss.backward();
    opt.step(fm.data(), fm.grad_data(), 0.01f);
  };
  for (int i = 0; i < cfg.warmup; ++i) step(i);
  kernels::wait(fm.place());
  std::int64_t steps = 0;
  const double t0 = mono_s();
  double el = 0;
  while (el < cfg.seconds || steps < 10) {
    step(static_cast<int>(steps));
    ++steps;
    if (steps % 10 == 0) kernels::wait(fm.place());  // a GPU runs ahead of the clock otherwise
    el = mono_s() - t0;
  }
  kernels::wait(fm.place());
  el = mono_s() - t0;
  return {{"model", cfg.model},
          {"device", cfg.device},
          {"batch", cfg.batch},
          {"threads", cfg.threads},
          {"steps", steps},
          {"seconds", el},
          {"step_ms", 1e3 * el / double(steps)},
          {"samples_per_s", double(steps * cfg.batch) / el},
          {"num_params", fm.num_params()}};
}

}  // namespace esync::train
