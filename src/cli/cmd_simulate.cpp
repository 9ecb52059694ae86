// esync simulate SUMMARY.json: scale beyond this machine with the event-driven model of
// esync/simulate.hpp. Calibrates from a real run's summary (device step times and their spread,
// bytes per synchronisation, link bandwidth and latency), first replays that run itself and
// prints predicted vs measured throughput (the model's error), then predicts throughput and
// round time for every mode at each worker count with the given speed mix. A mode may carry
// "+overlap" (esync+overlap, local-sgd+overlap: esync run --overlap).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "esync/bench_table.hpp"
#include "esync/error.hpp"
#include "esync/heterogeneity.hpp"
#include "esync/modes.hpp"
#include "esync/simulate.hpp"

namespace esync::cli {

int cmd_simulate(int argc, char** argv) {
  cxxopts::Options o("esync simulate",
                     "Predict throughput and round time per mode at scale, calibrated from a run's summary.");
  o.add_options()("summary", "An esync summarize output (esync.summary/1)", cxxopts::value<std::string>())(
      "run", "Which run of the summary to calibrate from (label; default the first)",
      cxxopts::value<std::string>()->default_value(""))(
      "workers", "Worker counts to predict",
      cxxopts::value<std::string>()->default_value("8,32,128,512,1024,4096"))(
      "modes", "Modes; esync+overlap and local-sgd+overlap for --overlap",
      cxxopts::value<std::string>()->default_value("ssgd,esync,local-sgd,asgd"))(
      "speed-mix", "Relative slowdowns repeated over the workers (default: the calibrated devices)",
      cxxopts::value<std::string>()->default_value(""))("k-base", "esync: local steps of the slowest device",
                                                        cxxopts::value<int>()->default_value("4"))(
      "policy", "esync: the state server's policy, assign | deadline",
      cxxopts::value<std::string>()->default_value(kDefaultPolicy))(
      "k-fixed", "local-sgd: local steps", cxxopts::value<int>()->default_value("4"))(
      "shards", "Parameter-server shards for the asynchronous modes",
      cxxopts::value<int>()->default_value("1"))("rounds", "Simulated rounds per point",
                                                 cxxopts::value<std::int64_t>()->default_value("100"))(
      "delay",
      "Extra delay of every synchronisation for the predictions, as esync run --delay: constant:10ms, "
      "gaussian:10ms,3ms, exponential:10ms or none (default: the run's)",
      cxxopts::value<std::string>())("o,output", "Also write the JSON here",
                                     cxxopts::value<std::string>()->default_value(""));
  o.parse_positional({"summary"});
  o.positional_help("SUMMARY.json");
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  ESYNC_CHECK_T(ConfigError, r.count("summary"), "give the summary JSON of a real run (esync summarize)");
  const auto path = r["summary"].as<std::string>();
  std::ifstream in(path);
  ESYNC_CHECK_T(IoError, in.good(), path, ": cannot open");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const std::exception&) {
    ESYNC_THROW(IoError, path, ": not valid JSON");
  }
  // Every flag is checked before anything is printed.
  std::vector<sim::SimConfig> modes;
  {
    std::stringstream ss(r["modes"].as<std::string>());
    for (std::string s; std::getline(ss, s, ',');) sim::set_mode(modes.emplace_back(), s);
  }
  const std::string delay = r.count("delay") ? r["delay"].as<std::string>() : "";
  if (r.count("delay")) DelayModel(delay, 0);  // ConfigError naming the accepted forms
  std::vector<double> mix;
  if (const auto m = r["speed-mix"].as<std::string>(); !m.empty()) mix = parse_list(m, "--speed-mix");
  const auto workers = parse_list(r["workers"].as<std::string>(), "--workers");

  sim::CalibrateOptions copt;
  copt.run = r["run"].as<std::string>();
  auto cal = sim::calibrate(doc, copt);
  for (const auto& n : cal.notes) std::printf("calibration: %s\n", n.c_str());

  // The model's error on the run it was calibrated from.
  sim::SimConfig replay;
  replay.mode = cal.source.mode;
  replay.workers = cal.source.workers;
  replay.k_base = cal.source.k_base;
  replay.shards = cal.source.shards;
  replay.rounds = std::max<std::int64_t>(cal.source.rounds, 20);
  const auto back = sim::simulate(cal, replay);
  const double err = cal.source.samples_per_s > 0 ? back.samples_per_s / cal.source.samples_per_s - 1.0 : 0.0;
  std::printf("replay of %s (%s, %d workers): predicted %.0f samples/s, measured %.0f (%+.1f %%)\n",
              cal.source.label.c_str(), cal.source.mode.c_str(), cal.source.workers, back.samples_per_s,
              cal.source.samples_per_s, err * 100);

  if (r.count("delay")) cal.sync_delay = delay;  // after the replay, which needs the run's own
  BenchTable t("simulate", {"mode", "workers", "samples_per_s", "round_ms", "compute_frac", "comm_frac",
                            "wait_frac", "vs ssgd"});
  nlohmann::json points = nlohmann::json::array();
  for (const double w : workers) {
    double ssgd = 0;
    for (sim::SimConfig c : modes) {
      const std::string mode = sim::mode_name(c);
      c.workers = static_cast<int>(w);
      c.speed_mix = mix;
      c.k_base = r["k-base"].as<int>();
      c.k_fixed = r["k-fixed"].as<int>();
      c.policy = r["policy"].as<std::string>();
      c.shards = find_mode(c.mode).asynchronous ? r["shards"].as<int>() : 0;
      c.rounds = r["rounds"].as<std::int64_t>();
      const auto res = sim::simulate(cal, c);
      if (mode == "ssgd") ssgd = res.samples_per_s;
      t.add_row({mode, c.workers, res.samples_per_s, res.update_s * 1e3, res.compute_frac, res.comm_frac,
                 res.wait_frac,
                 ssgd > 0 ? nlohmann::json(res.samples_per_s / ssgd) : nlohmann::json(nullptr)});
      points.push_back(res);
    }
  }
  t.set("calibration", cal);
  t.set("replay", {{"predicted_samples_per_s", back.samples_per_s},
                   {"measured_samples_per_s", cal.source.samples_per_s},
                   {"error", err}});
  t.print();
  if (const auto out = r["output"].as<std::string>(); !out.empty()) {
    nlohmann::json j = t.to_json();
    j["points"] = points;
    std::ofstream(out) << j.dump(1) << "\n";
  }
  return 0;
}

}  // namespace esync::cli
