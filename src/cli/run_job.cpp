// esync run's flags into one validated job (run_job.hpp). Defaults that depend on other flags
// (the asynchronous modes' optimiser, threads per worker, the log directory) are settled here,
// so job.json records what the processes really ran with.
#include "cli/run_job.hpp"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <set>

#include "cli/options.hpp"
#include "esync/assignment.hpp"
#include "esync/averaging.hpp"
#include "esync/collective.hpp"
#include "esync/error.hpp"
#include "esync/heterogeneity.hpp"
#include "esync/job_checkpoint.hpp"
#include "esync/modes.hpp"
#include "esync/ps_rules.hpp"

namespace esync::cli {
namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// "3" -> three cpu workers; "cpu,cpu,cuda:0" -> one worker per listed device. A bare "cuda"
// takes the lowest GPU ordinal nobody else names, as torchrun gives each local rank its own GPU:
// "cuda,cuda" -> cuda:0, cuda:1; "cuda:0,cuda" -> cuda:0, cuda:1.
std::vector<std::string> parse_workers(const std::string& s) {
  std::vector<std::string> devices;
  if (all_digits(s)) {
    const int n = std::atoi(s.c_str());
    ESYNC_CHECK_T(ConfigError, n >= 1 && n <= 1024, "--workers ", s, ": need 1 to 1024 workers");
    return std::vector<std::string>(static_cast<std::size_t>(n), "cpu");
  }
  for (std::size_t begin = 0; begin <= s.size();) {
    const auto end = std::min(s.find(',', begin), s.size());
    const std::string part = s.substr(begin, end - begin);
    const bool ok =
        part == "cpu" || part == "cuda" || (part.rfind("cuda:", 0) == 0 && all_digits(part.substr(5)));
    ESYNC_CHECK_T(ConfigError, ok, "--workers '", s, "': '", part,
                  "' is not a device (a count like 3, or a list like cpu,cpu,cuda:0 or cuda,cuda)");
    devices.push_back(part);
    begin = end + 1;
  }
  std::set<std::string> named(devices.begin(), devices.end());
  int next = 0;
  for (auto& d : devices) {
    if (d != "cuda") continue;
    while (named.count("cuda:" + std::to_string(next))) ++next;
    d = "cuda:" + std::to_string(next);
    named.insert(d);
  }
  return devices;
}

void check_one_of(const std::string& v, const std::set<std::string>& allowed, const char* flag) {
  if (allowed.count(v)) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : " | ") + a;
  ESYNC_THROW(ConfigError, flag, " '", v, "': expected ", list);
}

std::string default_log_dir(const std::string& mode) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return "logs/run-" + mode + "-" + stamp;
}

// --checkpoint-every/--checkpoint-dir/--resume into the job. A resumed job is checked here,
// once, before anything starts: the newest complete round, and the same training settings.
void add_checkpoints(nlohmann::json& job, int every, std::string dir, const std::string& resume) {
  ESYNC_CHECK_T(ConfigError, every >= 0, "--checkpoint-every must be >= 0");
  if (!resume.empty()) {
    const int writers = find_mode(job.at("mode").get<std::string>()).synchronous()
                            ? static_cast<int>(job.at("devices").size())
                            : 1;
    const auto round = ckpt::latest_complete(resume, writers, job.value("servers", 0));
    ESYNC_CHECK_T(ConfigError, round.has_value(), "--resume ", resume,
                  ": no complete checkpoint there (one round with "
                  "worker-0.ckpt and every server's file)");
    const auto file = ckpt::worker_file(resume, *round, 0);
    ckpt::check_same_job(Checkpoint::load(file).meta.at("config"), job, file);
    job["resume"] = {{"dir", resume}, {"round", *round}};
  }
  if (dir.empty()) dir = resume.empty() ? job.value("log_dir", "logs") + "/checkpoint" : resume;
  job["checkpoint_every"] = every;
  job["checkpoint_dir"] = dir;
}

}  // namespace

std::optional<RunJob> parse_run_job(int argc, char** argv) {
  cxxopts::Options o("esync run", "Start coordinator, servers and workers as processes on this host.");
  // Options read as a table, one a line.
  // clang-format off
  o.add_options()
    ("workers", "A count of cpu workers (3) or one device per worker (cpu,cpu,cuda:0)", cxxopts::value<std::string>()->default_value("2"))
    ("max-workers", "Elastic capacity: up to this many workers, the extra ones joining the running job (PS jobs; 0: --workers)", cxxopts::value<int>()->default_value("0"))
    ("mode", mode_names(), cxxopts::value<std::string>()->default_value("esync"))
    ("dataset", "fashion-mnist | mnist | cifar10 | least-squares | synthetic", cxxopts::value<std::string>()->default_value("fashion-mnist"))
    ("data-dir", "Dataset directory (default: the dataset's system location)", cxxopts::value<std::string>()->default_value(""))
    ("ls-matrix", "Least squares matrix: uniform | normal", cxxopts::value<std::string>()->default_value("uniform"))
    ("model", "linreg | mlp | lenet5 | cnn | resnet18 | path/to/module.pt", cxxopts::value<std::string>()->default_value("lenet5"))
    ("batch", "Batch size per worker", cxxopts::value<std::int64_t>()->default_value("64"))
    ("optimizer", "sgd | momentum | adam (asgd, dcasgd: default sgd)", cxxopts::value<std::string>()->default_value("momentum"))
    ("lr", "Learning rate (asgd, dcasgd with sgd: default 0.1)", cxxopts::value<double>()->default_value("0.02"))
    ("momentum", "Momentum", cxxopts::value<double>()->default_value("0.9"))
    ("local-lr", "Local learning rate (esync, local-sgd)", cxxopts::value<double>()->default_value("0.02"))
    ("global-lr", "Global learning rate applied to the averaged update (esync, local-sgd)", cxxopts::value<double>()->default_value("1.0"))
    ("weighting", "esync, local-sgd: how the workers' changes are averaged: batch (by per-step batch; equal batches, equal weights) | samples (by the round's samples) | normalized (each change per local step, FedNova)", cxxopts::value<std::string>()->default_value(weighting_name(kDefaultWeighting)))
    ("drift-correction", "esync, local-sgd over allreduce: none | scaffold (control variates against the drift of local steps on non-iid data)", cxxopts::value<std::string>()->default_value("none"))
    ("overlap", "esync, local-sgd: reduce each round's update while the next round's local steps run (delayed averaging)", cxxopts::value<bool>()->default_value("false"))
    ("k-fixed", "Local steps per round (local-sgd)", cxxopts::value<int>()->default_value("4"))
    ("k-base", "Local steps of the slowest worker per round (esync, assign policy)", cxxopts::value<int>()->default_value("1"))
    ("k-max", "Upper bound on local steps per round", cxxopts::value<int>()->default_value("64"))
    ("policy", "assign | deadline | poll (esync: how K is set; deadline = assign run against the clock)", cxxopts::value<std::string>()->default_value(coord::kDefaultPolicy))
    ("epochs", "Epochs", cxxopts::value<int>()->default_value("1"))
    ("time-budget", "Stop after this many seconds (0: none)", cxxopts::value<double>()->default_value("0"))
    ("partition", "iid | by-class | dirichlet", cxxopts::value<std::string>()->default_value("iid"))
    ("dirichlet-alpha", "Concentration of the Dirichlet label skew", cxxopts::value<double>()->default_value("0.5"))
    ("slowdown", "Per-rank slowdown factors >= 1, e.g. 1,2,4 (default: all 1)", cxxopts::value<std::string>()->default_value(""))
    ("slowdown-basis", "nominal (f x this CPU's best recent step) | measured (DESIGN's literal (f-1) x the step just measured)", cxxopts::value<std::string>()->default_value("nominal"))
    ("delay", "Injected delay per sync: none | constant:10ms | gaussian:10ms,3ms | exponential:10ms", cxxopts::value<std::string>()->default_value("none"))
    ("slow-worker", "Rank that is made slow (-1: none)", cxxopts::value<int>()->default_value("-1"))
    ("eval-every", "Evaluate every N seconds", cxxopts::value<double>()->default_value("5"))
    ("servers", "Parameter-server shards (0: allreduce; asgd and dcasgd need >= 1, default 1)", cxxopts::value<int>()->default_value("0"))
    ("delay-adaptive", "asgd: step size lr * M / max(M, staleness)", cxxopts::value<bool>()->default_value("false"))
    ("async-cached", "asgd: step on the mean of every worker's latest gradient", cxxopts::value<bool>()->default_value("false"))
    ("dc-lambda", "dcasgd: compensation strength lambda0 (default 0.04; 2 with --dc-adaptive, as the DC-ASGD paper sets them)", cxxopts::value<double>())
    ("dc-adaptive", "dcasgd: lambda0 / sqrt(mean square of g)", cxxopts::value<bool>()->default_value("false"))
    ("backend", "auto (nccl when every worker is on cuda, else gloo) | gloo | nccl", cxxopts::value<std::string>()->default_value("auto"))
    ("threads", "Intra-op threads per worker (default: cores / workers)", cxxopts::value<int>()->default_value("0"))
    ("seed", "Random seed", cxxopts::value<std::uint64_t>()->default_value("42"))
    ("checkpoint-every", "Write a checkpoint every N rounds (0: never)", cxxopts::value<int>()->default_value("0"))
    ("checkpoint-dir", "Where checkpoints go (default LOGDIR/checkpoint, or the --resume directory)", cxxopts::value<std::string>()->default_value(""))
    ("resume", "Continue the job checkpointed in DIR from its newest complete round; the settings that define the training state must be the same", cxxopts::value<std::string>()->default_value(""))
    ("log-dir", "Logs directory (default logs/run-<mode>-<timestamp>)", cxxopts::value<std::string>()->default_value(""))
    ("timeout", "Stop everything after this many seconds", cxxopts::value<int>()->default_value("3600"))
    ("wait-timeout", "Seconds any wait on a peer may take (collectives, a sync round on the PS)", cxxopts::value<double>()->default_value("60"))
    ("heartbeat-timeout", "Seconds of silence before the coordinator declares a worker lost (and a worker its coordinator)", cxxopts::value<double>()->default_value("10"))
    ("heartbeat-interval", "Seconds between a worker's heartbeats", cxxopts::value<double>()->default_value("1"))
    ("on-failure", "A lost worker in a PS job: continue (drop it) | abort (stop the job)", cxxopts::value<std::string>()->default_value("continue"))
    ("curve", "Encrypt every ZeroMQ connection (CURVE) under a fresh job keypair, handed over in the environment", cxxopts::value<bool>()->default_value("false"))
    ("dry-run", "Write the job file, print the commands (ROLE<TAB>command, the coordinator's address as {COORDINATOR}) and exit; launch/cluster.sh runs them on other hosts", cxxopts::value<bool>()->default_value("false"));
  // clang-format on
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return std::nullopt;
  const auto str = [&](const char* flag) { return r[flag].as<std::string>(); };
  const auto num = [&](const char* flag) { return r[flag].as<double>(); };

  const auto devices = parse_workers(str("workers"));
  const int n = static_cast<int>(devices.size());
  const auto mode = str("mode");
  const Mode& m = find_mode(mode);
  check_one_of(str("dataset"), {"fashion-mnist", "mnist", "cifar10", "least-squares", "synthetic"},
               "--dataset");
  check_one_of(str("ls-matrix"), {"uniform", "normal"}, "--ls-matrix");
  check_one_of(str("optimizer"), {"sgd", "momentum", "adam"}, "--optimizer");
  check_one_of(str("policy"), {"assign", "deadline", "poll"}, "--policy");
  check_one_of(str("partition"), {"iid", "by-class", "dirichlet"}, "--partition");
  check_one_of(str("on-failure"), {"continue", "abort"}, "--on-failure");
  (void)parse_weighting(str("weighting"));
  check_one_of(str("drift-correction"), {"none", "scaffold"}, "--drift-correction");
  ESYNC_CHECK_T(
      ConfigError, !r.count("weighting") || m.averages_models(),
      "--weighting is a model-averaging option (esync, local-sgd); the gradient modes average by samples");
  const auto backend = comm::resolve_backend(str("backend"), devices);
  for (const char* f : {"lr", "local-lr", "global-lr", "dirichlet-alpha", "heartbeat-timeout",
                        "heartbeat-interval", "wait-timeout"})
    ESYNC_CHECK_T(ConfigError, num(f) > 0, "--", f, " must be > 0");
  ESYNC_CHECK_T(ConfigError, num("heartbeat-interval") < num("heartbeat-timeout"),
                "--heartbeat-interval must be shorter than --heartbeat-timeout");
  const double momentum = num("momentum");
  ESYNC_CHECK_T(ConfigError, momentum >= 0 && momentum < 1, "--momentum must be in [0, 1)");
  ESYNC_CHECK_T(ConfigError, r["batch"].as<std::int64_t>() >= 1, "--batch must be >= 1");
  const int k_base = r["k-base"].as<int>(), k_max = r["k-max"].as<int>();
  ESYNC_CHECK_T(ConfigError, r["k-fixed"].as<int>() >= 1, "--k-fixed must be >= 1");
  ESYNC_CHECK_T(ConfigError, k_base >= 1 && k_max >= k_base, "need 1 <= --k-base <= --k-max");
  const int epochs = r["epochs"].as<int>();
  const double budget = num("time-budget");
  ESYNC_CHECK_T(ConfigError, epochs >= 0 && budget >= 0, "--epochs and --time-budget must be >= 0");
  ESYNC_CHECK_T(ConfigError, epochs > 0 || budget > 0, "--epochs 0 needs a --time-budget");
  std::vector<double> slowdown(devices.size(), 1.0);
  if (const auto s = str("slowdown"); !s.empty()) slowdown = parse_list(s, "--slowdown");
  int max_workers = r["max-workers"].as<int>();
  if (max_workers == 0) max_workers = n;
  ESYNC_CHECK_T(ConfigError, max_workers >= n && max_workers <= 1024, "--max-workers ", max_workers,
                " must be 0 or from --workers (", n, ") to 1024");
  // One factor per starting worker, or per rank up to --max-workers (those of the joiners).
  ESYNC_CHECK_T(ConfigError,
                static_cast<int>(slowdown.size()) == n || static_cast<int>(slowdown.size()) == max_workers,
                "--slowdown has ", slowdown.size(), " factors for ", n, " workers");
  for (const double f : slowdown)
    ESYNC_CHECK_T(ConfigError, f >= 1 && f <= 1e6, "--slowdown factor ", f, " must be >= 1");
  (void)SlowdownModel(1.0, str("slowdown-basis"));  // refuses an unknown basis here, before anything starts
  const auto delay = str("delay");
  (void)DelayModel(delay, 0);  // the workers parse it the same way: reject a bad spec here, once
  const int slow_worker = r["slow-worker"].as<int>();
  ESYNC_CHECK_T(ConfigError, slow_worker >= -1 && slow_worker < n, "--slow-worker ", slow_worker,
                " is not a rank (0 to ", n - 1, ", or -1)");
  ESYNC_CHECK_T(ConfigError, num("eval-every") >= 0, "--eval-every must be >= 0");
  int servers = r["servers"].as<int>();
  ESYNC_CHECK_T(ConfigError, servers >= 0 && servers <= 256, "--servers must be 0 to 256");
  if (servers == 0 && m.asynchronous) servers = 1;  // they exist only on the PS
  ESYNC_CHECK_T(ConfigError, max_workers == n || servers > 0,
                "--max-workers needs the parameter server (--servers >= 1): "
                "an allreduce group cannot grow while it runs");
  ESYNC_CHECK_T(ConfigError, max_workers == n || str("partition") == "iid",
                "--max-workers needs --partition iid: "
                "in an elastic job every worker draws from the whole training set");
  const bool delay_adaptive = r["delay-adaptive"].as<bool>(), async_cached = r["async-cached"].as<bool>(),
             dc_adaptive = r["dc-adaptive"].as<bool>();
  (void)m.server_rule({delay_adaptive, async_cached, dc_adaptive});  // refuses another mode's variant flags
  const double dc_lambda = r.count("dc-lambda") ? num("dc-lambda") : ps::default_dc_lambda(dc_adaptive);
  ESYNC_CHECK_T(ConfigError, dc_lambda >= 0, "--dc-lambda must be >= 0");
  const bool overlap = r["overlap"].as<bool>();
  ESYNC_CHECK_T(ConfigError, !overlap || m.averages_models(),
                "--overlap is a model-averaging option (esync, local-sgd)");
  ESYNC_CHECK_T(
      ConfigError, str("drift-correction") == "none" || (m.averages_models() && servers == 0 && !overlap),
      "--drift-correction scaffold is a model-averaging option (esync, local-sgd) over allreduce (without "
      "--servers and --overlap)");
  int threads = r["threads"].as<int>();
  ESYNC_CHECK_T(ConfigError, threads >= 0, "--threads must be >= 0");
  if (threads == 0) threads = std::max(1, default_threads() / n);
  // The mode's optimiser defaults (modes.hpp says why they differ); explicit flags always win,
  // and the mode's default rate goes only with its default optimiser.
  std::string optimizer = str("optimizer");
  double lr = num("lr");
  if (!r.count("optimizer")) {
    optimizer = m.default_optimizer;
    if (!r.count("lr")) lr = m.default_lr;
  }
  const int timeout = r["timeout"].as<int>();
  ESYNC_CHECK_T(ConfigError, timeout > 0, "--timeout must be > 0");
  std::string log_dir = str("log-dir");
  if (log_dir.empty()) log_dir = default_log_dir(mode);

  // clang-format off
  const nlohmann::json job = {
      {"mode", mode}, {"dataset", str("dataset")}, {"data_dir", str("data-dir")}, {"ls_matrix", str("ls-matrix")},
      {"model", str("model")}, {"batch", r["batch"].as<std::int64_t>()}, {"optimizer", optimizer},
      {"lr", lr}, {"momentum", momentum}, {"local_lr", num("local-lr")}, {"global_lr", num("global-lr")}, {"weighting", str("weighting")}, {"drift_correction", str("drift-correction")},
      {"k_fixed", r["k-fixed"].as<int>()}, {"overlap", overlap}, {"epochs", epochs}, {"time_budget_s", budget},
      {"partition", str("partition")}, {"dirichlet_alpha", num("dirichlet-alpha")}, {"slowdown", slowdown},
      {"slowdown_basis", str("slowdown-basis")}, {"delay", delay}, {"slow_worker", slow_worker}, {"eval_every_s", num("eval-every")}, {"backend", backend},
      {"threads", threads}, {"seed", r["seed"].as<std::uint64_t>()}, {"log_dir", log_dir}, {"devices", devices},
      {"servers", servers}, {"delay_adaptive", delay_adaptive}, {"async_cached", async_cached},
      {"dc_lambda", dc_lambda}, {"dc_adaptive", dc_adaptive}, {"heartbeat_timeout_s", num("heartbeat-timeout")},
      {"heartbeat_interval_s", num("heartbeat-interval")}, {"on_failure", str("on-failure")},
      {"max_workers", max_workers}};
  // clang-format on

  RunJob out;
  out.job = job;
  add_checkpoints(out.job, r["checkpoint-every"].as<int>(), str("checkpoint-dir"), str("resume"));
  out.devices = devices;
  out.servers = servers;
  out.log_dir = log_dir;
  out.policy = str("policy");
  out.k_base = k_base;
  out.k_max = k_max;
  out.timeout_s = timeout;
  out.heartbeat_timeout_s = num("heartbeat-timeout");
  out.wait_timeout_s = num("wait-timeout");
  out.dry_run = r["dry-run"].as<bool>();
  out.curve = r["curve"].as<bool>();
  // Fail closed: a launcher running the printed commands would start a plain job unawares.
  ESYNC_CHECK_T(
      ConfigError, !(out.dry_run && out.curve),
      "--curve cannot go with --dry-run: the "
      "commands carry no keys (a launcher must hand out ESYNC_CURVE_SERVER/ESYNC_CURVE_SECRET itself)");
  return out;
}

}  // namespace esync::cli
