// esync coordinator: the state server as a process. The job token comes from ESYNC_TOKEN (or
// is generated and printed once, for the launcher to hand to workers); Ctrl-C stops it. CURVE
// is on when ESYNC_CURVE_SERVER and ESYNC_CURVE_SECRET are set (curve.hpp; esync run --curve).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "cli/commands.hpp"
#include "cli/environment.hpp"
#include "cli/job_flags.hpp"
#include "cli/options.hpp"
#include "esync/coordinator.hpp"
#include "esync/curve.hpp"
#include "esync/error.hpp"
#include "esync/wire.hpp"

namespace esync::cli {
namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }
}  // namespace

int cmd_coordinator(int argc, char** argv) {
  cxxopts::Options o(
      "esync coordinator",
      "The state server: registration, rendezvous, local-iteration assignment. "
      "Environment: ESYNC_TOKEN (the job token), ESYNC_CURVE_SERVER + ESYNC_CURVE_SECRET (the job's CURVE "
      "keypair, z85: encrypt every connection; esync run --curve sets them).");
  o.add_options()("workers", "Number of workers in the job", cxxopts::value<int>()->default_value("1"))(
      "bind", "Address to listen on (default loopback only)",
      cxxopts::value<std::string>()->default_value("127.0.0.1"))("port", "Port (0: a free one, printed)",
                                                                 cxxopts::value<int>()->default_value("0"))(
      "job",
      "JSON file with the job configuration sent to every worker (its policy, k_base, k_max and "
      "heartbeat_timeout_s unless the flags below are given)",
      cxxopts::value<std::string>()->default_value(""))("log-dir", "Write LOGDIR/coordinator-0.jsonl",
                                                        cxxopts::value<std::string>()->default_value(""))(
      "port-file", "Write the bound port to this file (for launchers)",
      cxxopts::value<std::string>()->default_value(""))(
      "metrics-port",
      "Serve Prometheus metrics at http://BIND:PORT/metrics (0: a free port, written to LOGDIR/metrics.port; "
      "-1: none)",
      cxxopts::value<int>()->default_value("-1"));
  add_k_flags(o);
  add_liveness_flags(o, false);
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  coord::CoordinatorConfig c;
  c.workers = r["workers"].as<int>();
  c.bind = r["bind"].as<std::string>();
  c.port = r["port"].as<int>();
  c.metrics_port = metrics_port(r);
  c.log_dir = r["log-dir"].as<std::string>();
  c.token = env::token();
  c.curve = wire::curve_keys_from_env();
  if (const auto job = r["job"].as<std::string>(); !job.empty()) {
    std::ifstream in(job);
    ESYNC_CHECK_T(IoError, in.good(), job, ": cannot open the job file");
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      ESYNC_THROW(IoError, job, ": not valid JSON");
    }
    c.job = doc.get<JobConfig>();
  }
  read_k_flags(r, c.job, true);
  read_liveness_flags(r, c.job, false, true);
  c.heartbeat_timeout_s = c.job.heartbeat_timeout_s;
  const bool generated = c.token.empty();
  coord::Coordinator co(c);
  if (generated) std::printf("ESYNC_TOKEN=%s\n", co.token().c_str());
  std::printf("coordinator listening on %s:%d for %d workers (policy %s, token %s%s)\n", c.bind.c_str(),
              co.port(), c.workers, c.job.policy.c_str(), wire::token_hint(co.token()).c_str(),
              c.curve.on() ? ", CURVE" : "");
  std::fflush(stdout);
  if (const auto pf = r["port-file"].as<std::string>(); !pf.empty()) std::ofstream(pf) << co.port() << "\n";
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  co.run(g_stop);
  const auto s = co.stats();
  std::printf("coordinator done: %llu messages, %llu malformed, %llu rejected, %llu workers lost\n",
              static_cast<unsigned long long>(s.messages), static_cast<unsigned long long>(s.malformed),
              static_cast<unsigned long long>(s.rejected), static_cast<unsigned long long>(s.lost));
  return g_stop ? 130 : 0;
}

// esync keys: a job keypair for launchers that start the processes themselves; the lines are
// meant for `eval` (or a file only the job's owner reads), never for a log.
int cmd_keys(int, char**) {
  wire::require_curve();
  const auto kp = wire::generate_curve_keypair();
  std::printf("ESYNC_CURVE_SERVER=%s\nESYNC_CURVE_SECRET=%s\n", kp.public_key.c_str(), kp.secret_key.c_str());
  return 0;
}

}  // namespace esync::cli
