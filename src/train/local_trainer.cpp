// esync local: single-device training on the flat buffer.
//   every step: batch from this epoch's permutation (seeded by seed + epoch, so a resumed run
//   sees the same order), zero the flat gradient, forward, backward (autograd accumulates into
//   the flat gradient), one flat optimiser kernel call at the schedule's learning rate.
//   evaluation: at step 0, then every --eval-every steps or at each epoch end.
//   checkpoint: at each epoch end and at the end, atomically.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdio>

#include "esync/checkpoint.hpp"
#include "esync/clock.hpp"
#include "esync/error.hpp"
#include "esync/jsonl_log.hpp"
#include "esync/log_events.hpp"
#include "esync/progress.hpp"
#include "train/batches.hpp"
#include "train/device.hpp"
#include "train/evaluate.hpp"
#include "train/export.hpp"
#include "train/flat_model.hpp"
#include "train/local_state.hpp"
#include "train/threads.hpp"

namespace esync::train {

nlohmann::json run_local(const LocalConfig& cfg) {
  require_trainable_device(cfg.device, "--device");
  ESYNC_CHECK_T(ConfigError, cfg.batch > 0, "--batch must be > 0");
  ESYNC_CHECK_T(ConfigError, cfg.epochs > 0 || cfg.steps > 0, "--epochs or --steps must be > 0");
  set_compute_threads(cfg.threads);

  const Dataset ds = load_dataset(cfg.data);
  torch::manual_seed(cfg.seed);
  // Made on the CPU with the seed (the same initial weights on every device), then moved.
  auto net = make_model(cfg.model, ds.sample_shape, ds.num_classes);
  net->to(torch_device(cfg.device));
  FlatModel fm(net);
  FlatOptimizer opt(cfg.opt, static_cast<std::size_t>(fm.num_params()), fm.place());
  const std::int64_t n = ds.train.size();
  const std::int64_t steps_per_epoch = (n + cfg.batch - 1) / cfg.batch;
  const std::int64_t total_steps = cfg.steps > 0 ? cfg.steps : cfg.epochs * steps_per_epoch;
  const LrSchedule sched{
      cfg.lr_schedule, cfg.opt.lr,   total_steps,
      steps_per_epoch, cfg.lr_gamma, static_cast<std::int64_t>(cfg.warmup_epochs * double(steps_per_epoch))};
  check_schedule(cfg.lr_schedule);  // before any work

  LocalState st;
  if (!cfg.resume.empty()) st = resume_from(cfg, fm, opt);
  JsonlLog log = cfg.log_dir.empty() ? JsonlLog() : JsonlLog(cfg.log_dir, "local", 0, !cfg.resume.empty());
  log.write(logev::LocalStart{0, host_name(), cfg.device, "local", cfg.to_json(), fm.num_params(), st.step});

  const double t0 = mono_s();
  double train_s = 0, last_eval_s = 0;  // seconds of training (an evaluation's own time not counted)
  nlohmann::json evals = nlohmann::json::array();
  auto do_eval = [&](std::int64_t epoch) {
    const auto r = evaluate(fm.net(), ds.test, ds.num_classes);
    if (std::isnan(st.f0)) st.f0 = r.loss;
    logev::Eval e;
    e.round = st.step, e.epoch = double(epoch), e.samples_seen = double(st.samples), e.wall_s = mono_s() - t0;
    fill_eval(e, r, ds.f_star, st.f0);
    log.write(e);
    evals.push_back(e);
    return r;
  };
  if (st.step == 0) do_eval(0);

  Progress progress("local " + cfg.model, (total_steps - st.step) * cfg.batch);
  auto gen = at::detail::createCPUGenerator(cfg.seed);
  torch::Tensor perm;
  // The feeder asks for each batch's indices in turn: this epoch's permutation, in order. On a
  // GPU it asks one batch ahead, so the permutation of the next epoch is drawn by position.
  std::int64_t fed = st.step;
  auto indices = [&] {
    const std::int64_t epoch = fed / steps_per_epoch, pos = fed % steps_per_epoch;
    if (pos == 0 || !perm.defined()) {
      gen.set_current_seed(cfg.seed + static_cast<std::uint64_t>(epoch));
      perm = at::randperm(n, gen);
    }
    ++fed;
    return perm.narrow(0, pos * cfg.batch, std::min(cfg.batch, n - pos * cfg.batch));
  };
  BatchFeeder feeder(ds.train, indices, fm.flat().device());
  double loss_ema = NAN;
  std::int64_t done_samples = 0;
  const std::int64_t first_step = st.step;
  try {
    while (st.step < total_steps) {
      const std::int64_t epoch = st.step / steps_per_epoch;
      const double ts = mono_s();
      const Batch b = feeder.next();
      const auto len = b.size;
      fm.zero_grad();
      auto loss = loss_fn(fm.net().forward(b.x), b.y, ds.num_classes);
      loss.backward();
      opt.step(fm.data(), fm.grad_data(), sched.at(st.step));
      const double lv = loss.item<double>();  // on a GPU, also waits for the step to have run
      const double dt = mono_s() - ts;
      train_s += dt;
      ++st.step;
      st.samples += len;
      done_samples += len;
      loss_ema = std::isnan(loss_ema) ? lv : 0.95 * loss_ema + 0.05 * lv;
      if (cfg.log_every > 0 && st.step % cfg.log_every == 0)
        log.write(logev::Step{0, st.step, lv, double(st.samples), dt, 0.0, sched.at(st.step - 1)});
      if (!cfg.quiet)
        progress.update(done_samples, "epoch " + std::to_string(epoch + 1) + " loss " +
                                          std::to_string(loss_ema).substr(0, 6));
      const bool epoch_end = st.step % steps_per_epoch == 0 || st.step == total_steps;
      const std::int64_t epoch_now = (st.step + steps_per_epoch - 1) / steps_per_epoch;
      const bool by_steps = cfg.eval_every_steps > 0 && st.step % cfg.eval_every_steps == 0;
      const bool by_time = cfg.eval_every_s > 0 && train_s - last_eval_s >= cfg.eval_every_s;
      const bool each_epoch = cfg.eval_every_steps <= 0 && cfg.eval_every_s <= 0 && epoch_end;
      if (by_steps || by_time || each_epoch || st.step == total_steps) {
        last_eval_s = train_s;
        const auto r = do_eval(epoch_now);
        if (!cfg.quiet && epoch_end) {
          progress.finish("epoch " + std::to_string(epoch_now) + " test loss " + std::to_string(r.loss) +
                          (r.acc >= 0 ? " acc " + std::to_string(r.acc) : ""));
        }
      }
      if (epoch_end && !cfg.save.empty()) save_checkpoint(cfg, fm, opt, st);
    }
  } catch (const std::exception& e) {
    log.write(logev::ErrorEnd{"error", e.what()});
    throw;
  }
  const double sps = train_s > 0 ? double(done_samples) / train_s : 0.0;
  nlohmann::json summary = {{"model", cfg.model},
                            {"dataset", ds.name},
                            {"num_params", fm.num_params()},
                            {"steps", st.step - first_step},
                            {"samples", done_samples},
                            {"train_s", train_s},
                            {"wall_s", mono_s() - t0},
                            {"samples_per_s", sps},
                            {"evals", evals},
                            {"final", evals.back()}};
  if (!std::isnan(ds.f_star)) summary["f_star"] = ds.f_star, summary["f0"] = st.f0;
  if (!cfg.log_dir.empty()) {  // the trained model for PyTorch (export.hpp)
    summary["model_file"] = cfg.log_dir + "/model.pt";
    save_for_pytorch(fm.net(), summary["model_file"].get<std::string>());
  }
  log.write(logev::LocalEnd{"ok", sps, evals.back()});
  return summary;
}

}  // namespace esync::train
