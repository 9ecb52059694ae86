// esync server --shard I: one parameter-server shard of a job; the rest comes from the
// coordinator's job configuration. Ctrl-C stops it. CURVE is on when ESYNC_CURVE_SERVER and
// ESYNC_CURVE_SECRET are set: towards the coordinator as a client, towards workers as a server.
#include <csignal>
#include <cstdlib>

#include "cli/commands.hpp"
#include "cli/environment.hpp"
#include "cli/options.hpp"
#include "esync/curve.hpp"
#include "esync/error.hpp"
#include "esync/ps_server.hpp"

namespace esync::cli {
namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }
}  // namespace

int cmd_server(int argc, char** argv) {
  cxxopts::Options o(
      "esync server",
      "A parameter-server shard: a contiguous range of the flat buffer and its update rule. "
      "Environment: ESYNC_TOKEN (the job token), ESYNC_CURVE_SERVER + ESYNC_CURVE_SECRET (the job's CURVE "
      "keypair, z85; esync run --curve sets them).");
  o.add_options()("shard", "This shard's index (0 .. servers-1)", cxxopts::value<int>())(
      "coordinator", "The state server, HOST:PORT", cxxopts::value<std::string>())(
      "bind", "Address to listen on (default loopback only)",
      cxxopts::value<std::string>()->default_value("127.0.0.1"))(
      "wait-timeout", "Seconds a sync round waits for its last worker, and the longest silence",
      cxxopts::value<double>()->default_value("60"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  ESYNC_CHECK_T(ConfigError, r.count("shard") && r["shard"].as<int>() >= 0, "--shard I (>= 0) is required");
  ESYNC_CHECK_T(ConfigError, r.count("coordinator"), "--coordinator HOST:PORT is required");
  ps::ServerOptions s;
  s.shard = r["shard"].as<int>();
  s.coordinator = r["coordinator"].as<std::string>();
  s.bind = r["bind"].as<std::string>();
  s.timeout_s = r["wait-timeout"].as<double>();
  ESYNC_CHECK_T(ConfigError, s.timeout_s > 0, "--wait-timeout must be > 0");
  s.token = env::required_token();
  s.curve = wire::curve_keys_from_env();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  return ps::run_server(s, g_stop);
}

}  // namespace esync::cli
