// esync run --config: a job file back into flags (job_file.hpp).
#include "cli/job_file.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "esync/collective.hpp"
#include "esync/error.hpp"
#include "esync/job_config.hpp"
#include "esync/modes.hpp"
#include "esync/ps_rules.hpp"

namespace esync::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The flag of each job key that has one of its own; the keys not listed are handled below.
const std::map<std::string, std::string>& flag_of() {
  static const std::map<std::string, std::string> m = {
      {"mode", "mode"},
      {"dataset", "dataset"},
      {"data_dir", "data-dir"},
      {"num_classes", "num-classes"},
      {"ls_matrix", "ls-matrix"},
      {"model", "model"},
      {"batch", "batch"},
      {"partition", "partition"},
      {"dirichlet_alpha", "dirichlet-alpha"},
      {"epochs", "epochs"},
      {"time_budget_s", "time-budget"},
      {"seed", "seed"},
      {"momentum", "momentum"},
      {"weight_decay", "weight-decay"},
      {"nesterov", "nesterov"},
      {"lr_schedule", "lr-schedule"},
      {"lr_gamma", "lr-gamma"},
      {"warmup_epochs", "warmup-epochs"},
      {"local_lr", "local-lr"},
      {"global_lr", "global-lr"},
      {"weighting", "weighting"},
      {"drift_correction", "drift-correction"},
      {"overlap", "overlap"},
      {"policy", "policy"},
      {"k_base", "k-base"},
      {"k_max", "k-max"},
      {"k_fixed", "k-fixed"},
      {"delay_adaptive", "delay-adaptive"},
      {"async_cached", "async-cached"},
      {"dc_adaptive", "dc-adaptive"},
      {"on_failure", "on-failure"},
      {"slowdown_basis", "slowdown-basis"},
      {"delay", "delay"},
      {"slow_worker", "slow-worker"},
      {"heartbeat_timeout_s", "heartbeat-timeout"},
      {"heartbeat_interval_s", "heartbeat-interval"},
      {"eval_every_s", "eval-every"},
      {"log_every", "log-every"},
      {"checkpoint_every", "checkpoint-every"},
  };
  return m;
}

// A value as a flag's text: strings as they are, lists comma-separated, numbers as JSON writes them.
std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) {
      if (!out.empty()) out += ',';
      out += text_of(e);
    }
    return out;
  }
  return v.dump();
}

// --workers for the devices with their own batch and threads: "3" when all are plain cpu.
std::string workers_spec(const JobConfig& c) {
  const bool plain =
      c.batch_per_worker.empty() && c.threads_per_worker.empty() &&
      std::all_of(c.devices.begin(), c.devices.end(), [](const auto& d) { return d == "cpu"; });
  if (plain) return std::to_string(c.devices.size());
  std::string out;
  for (int i = 0; i < c.workers(); ++i) {
    if (!out.empty()) out += ',';
    out += c.devices[static_cast<std::size_t>(i)];
    const auto own = [&](const auto& v, const char* key) {
      if (i < static_cast<int>(v.size()) && v[static_cast<std::size_t>(i)] > 0)
        out += std::string(":") + key + "=" + std::to_string(v[static_cast<std::size_t>(i)]);
    };
    own(c.batch_per_worker, "batch");
    own(c.threads_per_worker, "threads");
  }
  return out;
}

}  // namespace

std::vector<std::string> job_file_flags(const std::string& path) {
  std::ifstream in(path);
  ESYNC_CHECK_T(IoError, in.good(), "--config ", path, ": cannot read the file");
  const json j = json::parse(in, nullptr, false);
  ESYNC_CHECK_T(ConfigError, j.is_object(), "--config ", path, ": not a JSON object of job settings");
  const json defaults = JobConfig{};
  std::string unknown;
  for (const auto& [key, v] : j.items())
    if (!defaults.contains(key)) {
      if (!unknown.empty()) unknown += ", ";
      unknown += "'" + key + "'";
    }
  ESYNC_CHECK_T(ConfigError, unknown.empty(), "--config ", path, ": unknown setting(s) ", unknown,
                " (the keys are those of LOGDIR/job.json)");
  JobConfig c;
  try {
    c = j.get<JobConfig>();
  } catch (const ConfigError& e) {
    ESYNC_THROW(ConfigError, "--config ", path, ": ", e.what());
  }
  const json cj = c;
  // Every key is a flag of the table or settled below: a new key must be given its flag.
  static const std::set<std::string> settled = {
      "devices", "batch_per_worker", "threads_per_worker", "optimizer", "lr",
      "servers", "max_workers",      "slowdown",           "dc_lambda", "backend",
      "threads", "log_dir",          "checkpoint_dir",     "resume"};
  for (const auto& [key, v] : defaults.items())
    ESYNC_CHECK(flag_of().count(key) || settled.count(key), "job setting '", key,
                "' has no flag for --config");
  std::vector<std::string> out;
  const auto put = [&](const std::string& flag, const std::string& value) {
    out.push_back("--" + flag + "=" + value);
  };
  for (const auto& [key, flag] : flag_of())
    if (cj.at(key) != defaults.at(key)) put(flag, text_of(cj.at(key)));

  // What esync run settles from the other settings is given only where it differs from that.
  const Mode& m = find_mode(c.mode);
  if (!c.devices.empty()) put("workers", workers_spec(c));
  // A recorded job's threads per worker; a file without them gets esync run's cores / workers.
  if (j.contains("threads")) put("threads", std::to_string(c.threads));
  // esync run gives a mode without --optimizer its own optimiser and rate (modes.hpp).
  const auto in_file = [&](const char* key) { return j.contains(key) && !j.at(key).is_null(); };
  const bool own_optimizer = in_file("optimizer") && c.optimizer != m.default_optimizer;
  if (own_optimizer) put("optimizer", c.optimizer);
  if (in_file("lr") && c.lr != (own_optimizer ? kDefaultLr : m.default_lr)) put("lr", text_of(cj.at("lr")));
  if (in_file("servers") && c.servers != (m.asynchronous ? 1 : 0)) put("servers", std::to_string(c.servers));
  if (c.max_workers != 0 && c.max_workers != c.workers()) put("max-workers", std::to_string(c.max_workers));
  if (std::any_of(c.slowdown.begin(), c.slowdown.end(), [](double f) { return f != 1.0; }))
    put("slowdown", text_of(cj.at("slowdown")));
  if (c.dc_lambda >= 0 && c.dc_lambda != ps::default_dc_lambda(c.dc_adaptive))
    put("dc-lambda", text_of(cj.at("dc_lambda")));
  if (c.backend != "auto" && c.backend != comm::resolve_backend("auto", c.devices)) put("backend", c.backend);
  // A job's directories that hold a run already (its job.json, its checkpoints) are that run's:
  // a re-run gets new ones, never writing over them.
  std::error_code ec;
  const bool ran_there = fs::exists(fs::path(c.log_dir) / "job.json", ec);
  if (!c.log_dir.empty() && !ran_there && c.log_dir != JobConfig{}.log_dir) put("log-dir", c.log_dir);
  if (!c.checkpoint_dir.empty() && c.checkpoint_dir != c.log_dir + "/checkpoint" &&
      !fs::exists(c.checkpoint_dir, ec))
    put("checkpoint-dir", c.checkpoint_dir);
  return out;
}

CommandLine split_config(int argc, char** argv) {
  std::vector<std::string> given(argv, argv + argc), config, rest = {given.at(0)};
  for (std::size_t i = 1; i < given.size(); ++i) {
    const std::string& a = given[i];
    if (a == "--config") {
      ESYNC_CHECK_T(ConfigError, i + 1 < given.size(), "--config needs a job file");
      config.push_back(given[++i]);
    } else if (a.rfind("--config=", 0) == 0) {
      config.push_back(a.substr(9));
    } else {
      rest.push_back(a);
    }
  }
  ESYNC_CHECK_T(ConfigError, config.size() <= 1, "--config given ", config.size(), " times");
  return {config.empty() ? "" : config[0], std::move(rest)};
}

}  // namespace esync::cli
