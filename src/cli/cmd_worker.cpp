// esync worker: one device process; everything but where the state server is comes from it.
// The launchers' environment conventions (torchrun's and SLURM's, environment.hpp) fill what the
// flags leave out.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/environment.hpp"
#include "cli/options.hpp"
#include "esync/error.hpp"
#include "esync/train_config.hpp"

namespace esync::cli {

int cmd_worker(int argc, char** argv) {
  cxxopts::Options o("esync worker",
                     "One device process of a distributed job. Environment: ESYNC_TOKEN (the job token), "
                     "ESYNC_CURVE_SERVER (the job's CURVE public key, z85, when the job uses --curve).");
  o.add_options()("coordinator", "The state server, HOST:PORT (default: $MASTER_ADDR:$MASTER_PORT)",
                  cxxopts::value<std::string>())(
      "device", "cpu | cuda:N | cuda (cuda:$LOCAL_RANK or cuda:$SLURM_LOCALID)",
      cxxopts::value<std::string>()->default_value("cpu"))(
      "rank", "Rank (-1: $RANK, $SLURM_PROCID, else the coordinator picks)",
      cxxopts::value<int>()->default_value("-1"))(
      "bind", "Address peers connect to (default: this host's address towards the coordinator)",
      cxxopts::value<std::string>()->default_value(""))(
      "wait-timeout", "Seconds any wait on the coordinator or a peer may take",
      cxxopts::value<double>()->default_value("60"))(
      "rejoin",
      "A restarted worker: wait (up to --wait-timeout) until the job has declared this --rank's "
      "previous process lost, then take the rank back and rejoin");
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  train::WorkerOptions w;
  if (r.count("coordinator")) {
    w.coordinator = r["coordinator"].as<std::string>();
  } else {
    w.coordinator = env::master();
    ESYNC_CHECK_T(ConfigError, !w.coordinator.empty(),
                  "--coordinator HOST:PORT is required (or MASTER_ADDR and MASTER_PORT)");
  }
  w.device = r["device"].as<std::string>();
  if (w.device == "cuda") w.device = "cuda:" + std::to_string(env::local_rank(0));
  w.rank = r["rank"].as<int>();
  w.rejoin = r.count("rejoin") > 0;
  if (w.rank < 0) w.rank = env::rank(-1);
  w.world = env::world(-1);
  w.bind = r["bind"].as<std::string>();
  w.timeout_s = r["wait-timeout"].as<double>();
  ESYNC_CHECK_T(ConfigError, w.timeout_s > 0, "--wait-timeout must be > 0");
  w.token = env::required_token();
  const auto s = train::run_worker(w);
  std::printf("worker %d done: %lld steps, %.0f samples/s, compute %.1f s, wait %.1f s, comm %.1f s%s\n",
              s["rank"].get<int>(), static_cast<long long>(s["steps"].get<std::int64_t>()),
              s["samples_per_s"].get<double>(), s["compute_s"].get<double>(), s["wait_s"].get<double>(),
              s["comm_s"].get<double>(),
              s["final"].contains("acc")
                  ? (", test accuracy " + std::to_string(s["final"]["acc"].get<double>())).c_str()
                  : "");
  return 0;
}

}  // namespace esync::cli
