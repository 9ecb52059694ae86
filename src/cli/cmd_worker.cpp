// esync worker: one device process; everything but where the state server is comes from it.
// The field's environment conventions fill what the flags leave out (DESIGN §2): torchrun's
// MASTER_ADDR/MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK and SLURM's SLURM_PROCID, SLURM_NTASKS,
// SLURM_LOCALID, so the same command line works under torchrun-style launchers and srun.
#include <cstdio>
#include <cstdlib>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "esync/error.hpp"
#include "esync/train_config.hpp"

namespace esync::cli {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The first of the variables that is set, as an int; `fallback` when none is.
int env_int(std::initializer_list<const char*> names, int fallback) {
  for (const char* n : names)
    if (const auto v = env(n); !v.empty()) {
      try {
        std::size_t used = 0;
        const int x = std::stoi(v, &used);
        if (used == v.size() && x >= 0) return x;
      } catch (const std::exception&) {
      }
      ESYNC_THROW(ConfigError, n, "='", v, "' is not a non-negative integer");
    }
  return fallback;
}

}  // namespace

int cmd_worker(int argc, char** argv) {
  cxxopts::Options o("esync worker", "One device process of a distributed job. Environment: ESYNC_TOKEN (the job token), "
                     "ESYNC_CURVE_SERVER (the job's CURVE public key, z85, when the job uses --curve).");
  o.add_options()
    ("coordinator", "The state server, HOST:PORT (default: $MASTER_ADDR:$MASTER_PORT)", cxxopts::value<std::string>())
    ("device", "cpu | cuda:N | cuda (cuda:$LOCAL_RANK or cuda:$SLURM_LOCALID)", cxxopts::value<std::string>()->default_value("cpu"))
    ("rank", "Rank (-1: $RANK, $SLURM_PROCID, else the coordinator picks)", cxxopts::value<int>()->default_value("-1"))
    ("bind", "Address peers connect to (default: this host's address towards the coordinator)", cxxopts::value<std::string>()->default_value(""))
    ("timeout", "Seconds any wait on the coordinator or a peer may take", cxxopts::value<double>()->default_value("60"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  train::WorkerOptions w;
  if (r.count("coordinator")) {
    w.coordinator = r["coordinator"].as<std::string>();
  } else {
    ESYNC_CHECK_T(ConfigError, !env("MASTER_ADDR").empty() && !env("MASTER_PORT").empty(),
                  "--coordinator HOST:PORT is required (or MASTER_ADDR and MASTER_PORT)");
    w.coordinator = env("MASTER_ADDR") + ":" + env("MASTER_PORT");
  }
  w.device = r["device"].as<std::string>();
  if (w.device == "cuda") w.device = "cuda:" + std::to_string(env_int({"LOCAL_RANK", "SLURM_LOCALID"}, 0));
  w.rank = r["rank"].as<int>();
  if (w.rank < 0) w.rank = env_int({"RANK", "SLURM_PROCID"}, -1);
  w.world = env_int({"WORLD_SIZE", "SLURM_NTASKS"}, -1);
  w.bind = r["bind"].as<std::string>();
  w.timeout_s = r["timeout"].as<double>();
  ESYNC_CHECK_T(ConfigError, w.timeout_s > 0, "--timeout must be > 0");
  const char* token = std::getenv("ESYNC_TOKEN");
  ESYNC_CHECK_T(ConfigError, token && *token, "ESYNC_TOKEN is not set (the coordinator prints it, esync run sets it)");
  w.token = token;
  const auto s = train::run_worker(w);
  std::printf("worker %d done: %lld steps, %.0f samples/s, compute %.1f s, wait %.1f s, comm %.1f s%s\n",
              s["rank"].get<int>(), static_cast<long long>(s["steps"].get<std::int64_t>()), s["samples_per_s"].get<double>(),
              s["compute_s"].get<double>(), s["wait_s"].get<double>(), s["comm_s"].get<double>(),
              s["final"].contains("acc") ? (", test accuracy " + std::to_string(s["final"]["acc"].get<double>())).c_str() : "");
  return 0;
}

}  // namespace esync::cli
