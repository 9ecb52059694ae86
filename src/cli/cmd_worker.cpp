// esync worker: one device process; everything but where the state server is comes from it.
#include <cstdio>
#include <cstdlib>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "esync/error.hpp"
#include "esync/train_config.hpp"

namespace esync::cli {

int cmd_worker(int argc, char** argv) {
  cxxopts::Options o("esync worker", "One device process of a distributed job.");
  o.add_options()
    ("coordinator", "The state server, HOST:PORT", cxxopts::value<std::string>())
    ("device", "cpu | cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
    ("rank", "Rank (-1: the coordinator picks)", cxxopts::value<int>()->default_value("-1"))
    ("timeout", "Seconds any wait on the coordinator or a peer may take", cxxopts::value<double>()->default_value("60"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  train::WorkerOptions w;
  ESYNC_CHECK_T(ConfigError, r.count("coordinator"), "--coordinator HOST:PORT is required");
  w.coordinator = r["coordinator"].as<std::string>();
  w.device = r["device"].as<std::string>();
  w.rank = r["rank"].as<int>();
  w.timeout_s = r["timeout"].as<double>();
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
