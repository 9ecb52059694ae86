// esync bench <what>: micro-benchmarks that print a table and JSON, each against a baseline
// measured in the same run.
#include <cstdio>
#include <cstring>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "esync/bench_table.hpp"
#include "esync/config.h"
#include "esync/error.hpp"
#include "esync/train_config.hpp"

namespace esync::cli {

int cmd_bench(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help")) {
    std::printf("usage: esync bench <kernels|step|allreduce|ps|coordinator> [options]\n");
    return argc < 2 ? 2 : 0;
  }
  const std::string what = argv[1];
  if (what == "kernels") return bench_kernels(argc - 1, argv + 1);
  if (what == "step") return bench_step(argc - 1, argv + 1);
  if (what == "allreduce") return bench_allreduce(argc - 1, argv + 1);
  if (what == "ps") return bench_ps(argc - 1, argv + 1);
  if (what == "coordinator") return bench_coordinator(argc - 1, argv + 1);
  ESYNC_THROW(ConfigError, "unknown benchmark '", what,
              "' (expected kernels, step, allreduce, ps or coordinator)");
}

int bench_step(int argc, char** argv) {
  cxxopts::Options o("esync bench step",
                     "Training step throughput (forward, backward, flat optimiser step).");
  o.add_options()("model", "Model", cxxopts::value<std::string>()->default_value("lenet5"))(
      "input", "Per-sample input shape", cxxopts::value<std::string>()->default_value("1x28x28"))(
      "classes", "Classes", cxxopts::value<std::int64_t>()->default_value("10"))(
      "batch", "Batch size", cxxopts::value<std::int64_t>()->default_value("64"))(
      "threads", "Intra-op threads", cxxopts::value<int>()->default_value("1"))(
      "seconds", "Measure at least this long", cxxopts::value<double>()->default_value("5"))(
      "optimizer", "sgd | momentum | adam", cxxopts::value<std::string>()->default_value("momentum"))(
      "device", "cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value("cpu"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  train::StepBenchConfig c;
  c.model = r["model"].as<std::string>();
  c.input = parse_shape(r["input"].as<std::string>(), "--input");
  c.classes = r["classes"].as<std::int64_t>();
  c.batch = r["batch"].as<std::int64_t>();
  c.threads = r["threads"].as<int>();
  c.seconds = r["seconds"].as<double>();
  c.optimizer = r["optimizer"].as<std::string>();
  c.device = r["device"].as<std::string>();
  const auto res = train::run_step_bench(c);
  BenchTable t("step", {"model", "device", "batch", "threads", "steps", "step_ms", "samples_per_s"});
  t.add_row({res["model"], res["device"], res["batch"], res["threads"], res["steps"], res["step_ms"],
             res["samples_per_s"]});
  t.set("num_params", res["num_params"]);
  t.print();
  return 0;
}

int cmd_version(int, char**) {
  std::printf("esync %s (CUDA kernels: %s)\n", ESYNC_VERSION, ESYNC_WITH_CUDA ? "built" : "not built");
  return 0;
}

}  // namespace esync::cli
