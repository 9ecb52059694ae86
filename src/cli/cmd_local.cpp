// esync local: flags -> LocalConfig -> run_local; prints the summary (text and JSON).
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/job_flags.hpp"
#include "cli/options.hpp"
#include "esync/error.hpp"
#include "esync/train_config.hpp"

namespace esync::cli {

int cmd_local(int argc, char** argv) {
  cxxopts::Options o("esync local", "Train on one device, no network.");
  train::LocalConfig d;
  // clang-format off
  o.add_options("Local")
    ("epochs", "Epochs", cxxopts::value<int>()->default_value(std::to_string(d.epochs)))
    ("steps", "Stop after this many steps (overrides --epochs)", cxxopts::value<std::int64_t>()->default_value("0"))
    ("threads", "Intra-op threads (0: all cores)", cxxopts::value<int>()->default_value("0"))
    ("device", "cpu | cuda:N", cxxopts::value<std::string>()->default_value(d.device))
    ("log-dir", "Write LOGDIR/local-0.jsonl", cxxopts::value<std::string>()->default_value(""))
    ("eval-every", "Evaluate every N seconds of training, as esync run does (0: each epoch)", cxxopts::value<double>()->default_value("0"))
    ("eval-every-steps", "Evaluate every N steps (0: each epoch)", cxxopts::value<std::int64_t>()->default_value("0"))
    ("log-every", "Log a step event every N steps", cxxopts::value<std::int64_t>()->default_value(std::to_string(d.log_every)))
    ("save", "Checkpoint path (written at each epoch end)", cxxopts::value<std::string>()->default_value(""))
    ("resume", "Continue from this checkpoint", cxxopts::value<std::string>()->default_value(""))
    ("quiet", "No progress output", cxxopts::value<bool>()->default_value("false"));
  // clang-format on
  add_data_flags(o);  // the same data, model and optimiser flags as esync run
  add_optimizer_flags(o, d.lr_schedule);
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;

  JobConfig shared;
  read_data_flags(r, shared);
  read_optimizer_flags(r, shared);
  refuse_unused_flags(r, shared, false);
  train::LocalConfig c;
  c.data.name = shared.dataset;
  c.data.dir = shared.data_dir;
  c.data.ls_matrix = shared.ls_matrix;
  c.data.num_classes = shared.num_classes;
  c.model = shared.model;
  c.batch = shared.batch;
  c.seed = c.data.seed = shared.seed;
  c.opt = optimizer_config(shared, shared.lr);
  c.lr_schedule = shared.lr_schedule;
  c.lr_gamma = static_cast<float>(shared.lr_gamma);
  c.warmup_epochs = shared.warmup_epochs;
  c.epochs = r["epochs"].as<int>();
  c.steps = r["steps"].as<std::int64_t>();
  c.threads = r["threads"].as<int>();
  c.device = r["device"].as<std::string>();
  c.log_dir = r["log-dir"].as<std::string>();
  c.eval_every_s = r["eval-every"].as<double>();
  c.eval_every_steps = r["eval-every-steps"].as<std::int64_t>();
  ESYNC_CHECK_T(ConfigError, c.eval_every_s >= 0 && c.eval_every_steps >= 0,
                "--eval-every and --eval-every-steps must be >= 0");
  c.log_every = r["log-every"].as<std::int64_t>();
  c.save = r["save"].as<std::string>();
  c.resume = r["resume"].as<std::string>();
  c.quiet = r["quiet"].as<bool>();
  ESYNC_CHECK_T(ConfigError, c.threads >= 0, "--threads must be >= 0");
  if (c.threads == 0) c.threads = default_threads();

  const auto s = train::run_local(c);
  const auto& f = s["final"];
  std::printf("esync local: %s on %s, %lld steps, %.0f samples/s, test loss %.6g", c.model.c_str(),
              c.data.name.c_str(), static_cast<long long>(s["steps"].get<std::int64_t>()),
              s["samples_per_s"].get<double>(), f["loss"].get<double>());
  if (f.contains("acc")) std::printf(", test accuracy %.4f", f["acc"].get<double>());
  if (f.contains("rel_gap")) std::printf(", (F-F*)/(F0-F*) %.3g", f["rel_gap"].get<double>());
  std::printf("\n#json\n%s\n", s.dump().c_str());
  return 0;
}

}  // namespace esync::cli
