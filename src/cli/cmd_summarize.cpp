// esync summarize LOGDIR...: the JSONL logs of one or more jobs folded into one summary JSON
// (schema esync.summary/1), plus a table on stdout. A log cut short by a killed
// process is summarised from what is there, with a warning saying what was cut.
#include <cstdio>
#include <fstream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "esync/bench_table.hpp"
#include "esync/error.hpp"
#include "esync/summary.hpp"

namespace esync::cli {

int cmd_summarize(int argc, char** argv) {
  cxxopts::Options o(
      "esync summarize",
      "Fold job logs into one summary JSON: throughput, time split, traffic, staleness, K, accuracy.");
  o.add_options()("logdirs", "Log directories (esync run --log-dir)",
                  cxxopts::value<std::vector<std::string>>())(
      "o,output", "Write the summary here", cxxopts::value<std::string>()->default_value("summary.json"))(
      "targets", "Accuracy targets for time-to-accuracy",
      cxxopts::value<std::string>()->default_value("0.8,0.85,0.9"))(
      "loss-targets", "Relative-gap targets (least squares)",
      cxxopts::value<std::string>()->default_value("0.1,0.01,0.001"))(
      "baseline", "Another summary JSON: speed-up of every run against it",
      cxxopts::value<std::string>()->default_value(""))(
      "baseline-run", "Which run of the baseline (its label; default the first)",
      cxxopts::value<std::string>()->default_value(""))("label", "A label for this summary",
                                                        cxxopts::value<std::string>()->default_value(""));
  o.parse_positional({"logdirs"});
  o.positional_help("LOGDIR...");
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  ESYNC_CHECK_T(ConfigError, r.count("logdirs"), "give at least one log directory");
  SummaryOptions opt;
  opt.targets = parse_list(r["targets"].as<std::string>(), "--targets");
  opt.loss_targets = parse_list(r["loss-targets"].as<std::string>(), "--loss-targets");
  opt.label = r["label"].as<std::string>();
  opt.baseline_run = r["baseline-run"].as<std::string>();
  if (const auto b = r["baseline"].as<std::string>(); !b.empty()) {
    std::ifstream in(b);
    ESYNC_CHECK_T(IoError, in.good(), b, ": cannot open the baseline summary");
    try {
      opt.baseline = nlohmann::json::parse(in);
    } catch (const std::exception&) {
      ESYNC_THROW(IoError, b, ": the baseline is not valid JSON");
    }
  }
  const auto doc = summarize(r["logdirs"].as<std::vector<std::string>>(), opt);
  const auto out = r["output"].as<std::string>();
  {
    // Written whole to a temporary, then renamed: a reader never sees half a summary.
    const std::string tmp = out + ".tmp";
    std::ofstream f(tmp);
    f << doc.dump(1) << "\n";
    ESYNC_CHECK_T(IoError, f.flush().good(), tmp, ": cannot write the summary");
    f.close();
    ESYNC_CHECK_T(IoError, std::rename(tmp.c_str(), out.c_str()) == 0, out, ": cannot write the summary");
  }
  BenchTable t("summary", {"run", "mode", "workers", "final", "samples_per_s", "time_to_first_target_s",
                           "speedup_vs_baseline"});
  for (const auto& run : doc.at("runs")) {
    const auto& acc = run.value("accuracy", nlohmann::json::object());
    const auto final = acc.contains("final") && acc["final"].is_object()
                           ? acc["final"].value("value", nlohmann::json())
                           : nlohmann::json();
    nlohmann::json first = nullptr, speed = nullptr;
    if (acc.contains("time_to_target") && !acc["time_to_target"].empty())
      first = acc["time_to_target"][0].value("wall_s", nlohmann::json());
    if (run.contains("speedup") && run["speedup"].contains("time_to_target") &&
        !run["speedup"]["time_to_target"].empty())
      speed = run["speedup"]["time_to_target"][0].value("speedup", nlohmann::json());
    t.add_row({run.value("label", ""), run.value("mode", ""), run.at("workers").size(), final,
               run.at("job").value("samples_per_s", 0.0), first, speed});
  }
  t.set("output", out);
  t.print();
  for (const auto& w : doc.value("warnings", nlohmann::json::array()))
    std::fprintf(stderr, "esync summarize: warning: %s\n", w.get<std::string>().c_str());
  return 0;
}

}  // namespace esync::cli
