// esync run's flags into one validated job (run_job.hpp). Defaults that depend on other flags
// (the asynchronous modes' optimiser, threads per worker, the log directory) are settled here,
// so job.json records what the processes really ran with.
#include "cli/run_job.hpp"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <set>

#include "cli/job_file.hpp"
#include "cli/job_flags.hpp"
#include "cli/options.hpp"
#include "esync/assignment.hpp"
#include "esync/averaging.hpp"
#include "esync/collective.hpp"
#include "esync/error.hpp"
#include "esync/heterogeneity.hpp"
#include "esync/job_checkpoint.hpp"
#include "esync/modes.hpp"
#include "esync/ps_rules.hpp"
#include "train/device.hpp"

namespace esync::cli {
namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// One worker of --workers: DEVICE[:ORDINAL][:batch=B][:threads=T], e.g. cpu:batch=32:threads=8,
// cuda:0:batch=256, cuda:batch=256. Returns the device; batch and threads 0 when not given.
std::string parse_worker(const std::string& spec, const std::string& all, std::int64_t& batch, int& threads) {
  std::vector<std::string> parts;
  for (std::size_t begin = 0; begin <= spec.size();) {
    const auto end = std::min(spec.find(':', begin), spec.size());
    parts.push_back(spec.substr(begin, end - begin));
    begin = end + 1;
  }
  const auto bad = [&](const std::string& why) {
    ESYNC_THROW(ConfigError, "--workers '", all, "': '", spec, "' ", why,
                " (a count like 3, or devices like cpu,cuda:0 with options cpu:batch=32:threads=8)");
  };
  std::string device = parts[0];
  if (device != "cpu" && device != "cuda") bad("is not a device");
  std::size_t i = 1;
  if (device == "cuda" && i < parts.size() && all_digits(parts[i])) device += ":" + parts[i++];
  batch = 0, threads = 0;
  for (; i < parts.size(); ++i) {
    const auto eq = parts[i].find('=');
    const std::string key = parts[i].substr(0, eq),
                      value = eq == std::string::npos ? "" : parts[i].substr(eq + 1);
    if (!all_digits(value) || value.size() > 9 || std::atoi(value.c_str()) < 1)
      bad("has '" + parts[i] + "', not KEY=N with N >= 1");
    if (key == "batch")
      batch = std::atoi(value.c_str());
    else if (key == "threads")
      threads = std::atoi(value.c_str());
    else
      bad("has the unknown option '" + key + "' (known: batch, threads)");
  }
  return device;
}

// "3" -> three cpu workers; "cpu,cpu,cuda:0" -> one worker per listed device, each with its own
// batch and threads when given. A bare "cuda" takes the lowest GPU ordinal nobody else names, as
// torchrun gives each local rank its own GPU: "cuda,cuda" -> cuda:0, cuda:1; "cuda:0,cuda" ->
// cuda:0, cuda:1.
void parse_workers(const std::string& s, JobConfig& job) {
  auto& devices = job.devices;
  devices.clear(), job.batch_per_worker.clear(), job.threads_per_worker.clear();
  if (all_digits(s)) {
    const int n = std::atoi(s.c_str());
    ESYNC_CHECK_T(ConfigError, s.size() <= 5 && n >= 1 && n <= 1024, "--workers ", s,
                  ": need 1 to 1024 workers");
    devices.assign(static_cast<std::size_t>(n), "cpu");
    return;
  }
  std::vector<std::int64_t> batch;
  std::vector<int> threads;
  for (std::size_t begin = 0; begin <= s.size();) {
    const auto end = std::min(s.find(',', begin), s.size());
    std::int64_t b = 0;
    int t = 0;
    devices.push_back(parse_worker(s.substr(begin, end - begin), s, b, t));
    batch.push_back(b), threads.push_back(t);
    begin = end + 1;
  }
  // Only a job that sets a worker's own batch or threads carries the lists.
  if (std::any_of(batch.begin(), batch.end(), [](auto b) { return b > 0; })) job.batch_per_worker = batch;
  if (std::any_of(threads.begin(), threads.end(), [](int t) { return t > 0; }))
    job.threads_per_worker = threads;
  std::set<std::string> named(devices.begin(), devices.end());
  int next = 0;
  for (auto& d : devices) {
    if (d != "cuda") continue;
    while (named.count("cuda:" + std::to_string(next))) ++next;
    d = "cuda:" + std::to_string(next);
    named.insert(d);
  }
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
void add_checkpoints(JobConfig& job, int every, std::string dir, const std::string& resume) {
  ESYNC_CHECK_T(ConfigError, every >= 0, "--checkpoint-every must be >= 0");
  if (!resume.empty()) {
    const int writers = find_mode(job.mode).synchronous() ? job.workers() : 1;
    const auto round = ckpt::latest_complete(resume, writers, job.servers);
    ESYNC_CHECK_T(ConfigError, round.has_value(), "--resume ", resume,
                  ": no complete checkpoint there (one round with "
                  "worker-0.ckpt and every server's file)");
    const auto file = ckpt::worker_file(resume, *round, 0);
    ckpt::check_same_job(Checkpoint::load(file).meta.at("config"), nlohmann::json(job), file);
    job.resume = {{"dir", resume}, {"round", *round}};
  }
  if (dir.empty()) dir = resume.empty() ? job.log_dir + "/checkpoint" : resume;
  job.checkpoint_every = static_cast<std::uint64_t>(every);
  job.checkpoint_dir = dir;
}

cxxopts::ParseResult parse_args(cxxopts::Options& o, std::vector<std::string> args, bool& help) {
  std::vector<char*> argp;
  for (auto& a : args) argp.push_back(a.data());
  cxxopts::ParseResult r;
  help = !parse(o, static_cast<int>(argp.size()), argp.data(), r);
  return r;
}

// The job of `args`; the flags of `checked` (a part of args: the command line's own) are refused
// where the job does not use them.
std::optional<RunJob> parse_job(const std::vector<std::string>& args,
                                const std::vector<std::string>& checked) {
  cxxopts::Options o("esync run", "Start coordinator, servers and workers as processes on this host.");
  const JobConfig d;
  // clang-format off
  o.add_options("Job")
    ("workers", "A count of cpu workers (3) or one device per worker (cpu,cpu,cuda:0), each with its own batch or threads if given (cpu:batch=32:threads=8,cuda:0:batch=256)", cxxopts::value<std::string>()->default_value("2"))
    ("mode", mode_names(), cxxopts::value<std::string>()->default_value(d.mode))
    ("config", "A job file (LOGDIR/job.json of an earlier run, or any subset of its keys); the flags given with it override it", cxxopts::value<std::string>())
    ("epochs", "Epochs (fractions too: 0.5)", cxxopts::value<double>()->default_value(text(d.epochs)))
    ("time-budget", "Stop after this many seconds (0: none)", cxxopts::value<double>()->default_value(text(d.time_budget_s)))
    ("partition", "iid | by-class | dirichlet", cxxopts::value<std::string>()->default_value(d.partition))
    ("dirichlet-alpha", "Concentration of the Dirichlet label skew", cxxopts::value<double>()->default_value(text(d.dirichlet_alpha)))
    ("backend", "auto (nccl when every worker has a GPU of its own, else gloo) | gloo | nccl", cxxopts::value<std::string>()->default_value(d.backend))
    ("threads", "Intra-op threads per worker (default: cores / workers)", cxxopts::value<int>()->default_value("0"))
    ("eval-every", "Evaluate every N seconds (rank 0, in the background)", cxxopts::value<double>()->default_value(text(d.eval_every_s)))
    ("log-every", "Log a step event every N steps", cxxopts::value<int>()->default_value(std::to_string(d.log_every)))
    ("log-dir", "Logs directory (default logs/run-<mode>-<timestamp>)", cxxopts::value<std::string>()->default_value(""))
    ("checkpoint-every", "Write a checkpoint every N rounds (0: never)", cxxopts::value<int>()->default_value(std::to_string(d.checkpoint_every)))
    ("checkpoint-dir", "Where checkpoints go (default LOGDIR/checkpoint, or the --resume directory)", cxxopts::value<std::string>()->default_value(""))
    ("resume", "Continue the job checkpointed in DIR from its newest complete round; the settings that define the training state must be the same", cxxopts::value<std::string>()->default_value(""));
  o.add_options("Launcher")
    ("timeout", "Stop everything after this many seconds", cxxopts::value<int>()->default_value("3600"))
    ("wait-timeout", "Seconds any wait on a peer may take (collectives, a sync round on the PS)", cxxopts::value<double>()->default_value("60"))
    ("metrics-port", "Serve the state server's Prometheus metrics at http://127.0.0.1:PORT/metrics (0: a free port, written to LOGDIR/metrics.port)", cxxopts::value<int>()->default_value("-1"))
    ("restart", "Start a lost worker again, up to N times each; it takes its rank back and rejoins the job (--on-failure continue)", cxxopts::value<int>()->default_value("0"))
    ("curve", "Encrypt every ZeroMQ connection (CURVE) under a fresh job keypair, handed over in the environment", cxxopts::value<bool>()->default_value("false"))
    ("dry-run", "Write the job file, print the commands (ROLE<TAB>command, the coordinator's address as {COORDINATOR}) and exit; launch/cluster.sh runs them on other hosts", cxxopts::value<bool>()->default_value("false"));
  // clang-format on
  add_data_flags(o);
  add_optimizer_flags(o);
  add_averaging_flags(o);
  add_k_flags(o);
  add_ps_flags(o);
  add_emulation_flags(o);
  add_liveness_flags(o, true);
  bool help = false;
  const cxxopts::ParseResult r = parse_args(o, args, help);
  if (help) return std::nullopt;
  const auto str = [&](const char* flag) { return r[flag].as<std::string>(); };
  const auto num = [&](const char* flag) { return r[flag].as<double>(); };

  JobConfig job;
  parse_workers(str("workers"), job);
  const int n = job.workers();
  job.mode = str("mode");
  const Mode& m = find_mode(job.mode);
  read_data_flags(r, job);
  read_optimizer_flags(r, job);
  read_averaging_flags(r, job);
  read_k_flags(r, job);
  read_ps_flags(r, job);
  read_emulation_flags(r, job);
  read_liveness_flags(r, job, true);

  // Rules across the groups.
  job.partition = str("partition");
  check_one_of(job.partition, {"iid", "by-class", "dirichlet"}, "--partition");
  job.dirichlet_alpha = num("dirichlet-alpha");
  ESYNC_CHECK_T(ConfigError, job.dirichlet_alpha > 0, "--dirichlet-alpha must be > 0");
  job.backend = comm::resolve_backend(str("backend"), job.devices);
  job.epochs = num("epochs");
  job.time_budget_s = num("time-budget");
  ESYNC_CHECK_T(ConfigError, job.epochs >= 0 && job.time_budget_s >= 0,
                "--epochs and --time-budget must be >= 0");
  ESYNC_CHECK_T(ConfigError, job.epochs > 0 || job.time_budget_s > 0, "--epochs 0 needs a --time-budget");
  if (job.max_workers == 0) job.max_workers = n;
  ESYNC_CHECK_T(ConfigError, job.max_workers >= n && job.max_workers <= 1024, "--max-workers ",
                job.max_workers, " must be 0 or from --workers (", n, ") to 1024");
  // One factor per starting worker, or per rank up to --max-workers (those of the joiners).
  if (job.slowdown.empty()) job.slowdown.assign(job.devices.size(), 1.0);
  const auto factors = static_cast<int>(job.slowdown.size());
  ESYNC_CHECK_T(ConfigError, factors == n || factors == job.max_workers, "--slowdown has ", factors,
                " factors for ", n, " workers");
  ESYNC_CHECK_T(ConfigError, job.slow_worker >= -1 && job.slow_worker < n, "--slow-worker ", job.slow_worker,
                " is not a rank (0 to ", n - 1, ", or -1)");
  job.eval_every_s = num("eval-every");
  ESYNC_CHECK_T(ConfigError, job.eval_every_s >= 0, "--eval-every must be >= 0");
  job.log_every = r["log-every"].as<int>();
  ESYNC_CHECK_T(ConfigError, job.log_every >= 1, "--log-every must be >= 1");
  if (job.servers == 0 && m.asynchronous) job.servers = 1;  // they exist only on the PS
  ESYNC_CHECK_T(ConfigError, job.max_workers == n || job.servers > 0,
                "--max-workers needs the parameter server (--servers >= 1): "
                "an allreduce group cannot grow while it runs");
  ESYNC_CHECK_T(ConfigError, job.max_workers == n || job.partition == "iid",
                "--max-workers needs --partition iid: "
                "in an elastic job every worker draws from the whole training set");
  (void)m.server_rule(
      {job.delay_adaptive, job.async_cached, job.dc_adaptive});  // refuses another mode's flags
  if (job.dc_lambda < 0) job.dc_lambda = ps::default_dc_lambda(job.dc_adaptive);
  ESYNC_CHECK_T(ConfigError, !job.overlap || m.averages_models(),
                "--overlap is a model-averaging option (esync, local-sgd)");
  ESYNC_CHECK_T(ConfigError,
                job.drift_correction == "none" || (m.averages_models() && job.servers == 0 && !job.overlap),
                "--drift-correction scaffold is a model-averaging option (esync, local-sgd) over allreduce "
                "(without --servers and --overlap)");
  const int threads = r["threads"].as<int>();
  ESYNC_CHECK_T(ConfigError, threads >= 0, "--threads must be >= 0");
  job.threads = threads > 0 ? threads : std::max(1, default_threads() / n);
  // The mode's optimiser defaults (modes.hpp says why they differ); explicit flags always win,
  // and the mode's default rate goes only with its default optimiser.
  if (!r.count("optimizer")) {
    job.optimizer = m.default_optimizer;
    if (!r.count("lr")) job.lr = m.default_lr;
  }
  ESYNC_CHECK_T(
      ConfigError, job.lr_schedule != "cosine" || job.epochs > 0,
      "--lr-schedule cosine decays to 0 at the last epoch: it needs --epochs (a --time-budget alone "
      "gives it no end)");
  refuse_unused_flags(&checked == &args ? r : parse_args(o, checked, help), job, true);
  job.log_dir = str("log-dir");
  if (job.log_dir.empty()) job.log_dir = default_log_dir(job.mode);
  add_checkpoints(job, r["checkpoint-every"].as<int>(), str("checkpoint-dir"), str("resume"));

  RunJob out;
  out.job = std::move(job);
  out.timeout_s = r["timeout"].as<int>();
  ESYNC_CHECK_T(ConfigError, out.timeout_s > 0, "--timeout must be > 0");
  out.wait_timeout_s = num("wait-timeout");
  ESYNC_CHECK_T(ConfigError, out.wait_timeout_s > 0, "--wait-timeout must be > 0");
  out.dry_run = r["dry-run"].as<bool>();
  out.metrics_port = metrics_port(r);
  out.restarts = r["restart"].as<int>();
  ESYNC_CHECK_T(ConfigError, out.restarts >= 0, "--restart must be >= 0");
  ESYNC_CHECK_T(ConfigError, out.restarts == 0 || out.job.on_failure == "continue",
                "--restart needs --on-failure continue (under abort a lost worker stops the job)");
  out.curve = r["curve"].as<bool>();
  // Every worker starts on this host, so its devices are checked here, before anything starts
  // (launch/cluster.sh places them on other hosts through --dry-run, which does not check).
  if (!out.dry_run)
    for (const auto& d : out.job.devices) train::require_trainable_device(d, "--workers");
  // Fail closed: a launcher running the printed commands would start a plain job unawares.
  ESYNC_CHECK_T(
      ConfigError, !(out.dry_run && out.curve),
      "--curve cannot go with --dry-run: the "
      "commands carry no keys (a launcher must hand out ESYNC_CURVE_SERVER/ESYNC_CURVE_SECRET itself)");
  return out;
}

}  // namespace

std::optional<RunJob> parse_run_job(int argc, char** argv) {
  const auto [config, rest] = split_config(argc, argv);
  if (config.empty()) return parse_job(rest, rest);
  // The file is a job of its own, checked as such (a setting its mode does not use is refused);
  // then its flags come first, so that the command line's override them, and only those are
  // checked against the job they make (--mode local-sgd over an ESync file leaves its k_base be).
  std::vector<std::string> file = job_file_flags(config);
  // Other workers on the command line: threads per worker are settled anew (cores / workers)
  // unless given too.
  const auto given = [&](const std::string& flag) {
    return std::any_of(rest.begin(), rest.end(), [&](const std::string& a) {
      return a == "--" + flag || a.rfind("--" + flag + "=", 0) == 0;
    });
  };
  if (given("workers") && !given("threads"))
    std::erase_if(file, [](const std::string& a) { return a.rfind("--threads=", 0) == 0; });
  file.insert(file.begin(), rest.front());
  try {
    (void)parse_job(file, file);
  } catch (const ConfigError& e) {
    ESYNC_THROW(ConfigError, "--config ", config, ": ", e.what());
  }
  file.insert(file.end(), rest.begin() + 1, rest.end());
  return parse_job(file, rest);
}

}  // namespace esync::cli
