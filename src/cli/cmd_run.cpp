// esync run: the single-host launcher. The flags become one validated job JSON in
// LOGDIR/job.json; then the coordinator (a daemon that writes its port to a file), the PS shards
// (daemons) and one worker per device, all this same binary, run as one ProcessGroup: their
// output prefixed and interleaved, Ctrl-C forwarded, the first failure stopping the rest; with
// --on-failure continue over the parameter server, a lost worker is named and the others go on
// (the shards drop it).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/environment.hpp"
#include "cli/job_watch.hpp"
#include "cli/options.hpp"
#include "cli/process_group.hpp"
#include "cli/run_job.hpp"
#include "esync/curve.hpp"
#include "esync/error.hpp"
#include "esync/jsonl_log.hpp"
#include "esync/log_events.hpp"
#include "esync/wire.hpp"

namespace esync::cli {
namespace {

// One command line a POSIX shell reads back as the same argv: words with anything but
// [A-Za-z0-9_./:=,+-] in single quotes (a quote inside as '\'').
std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain =
        !a.empty() &&
        a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:=,+-{}") ==
            std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (const char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

namespace fs = std::filesystem;

// The coordinator writes "PORT\n" once it is bound; until then the file is absent or partial.
int read_port(const fs::path& file) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty() || text.back() != '\n') return -1;
  text.pop_back();
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  const int port = digits ? std::atoi(text.c_str()) : -1;
  return port > 0 && port < 65536 ? port : -1;
}

// The last round a worker's log records ("sync" events), or -1: where a lost worker stopped.
std::int64_t last_round(const fs::path& log) {
  std::ifstream in(log);
  std::int64_t round = -1;
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"sync\"") == std::string::npos) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("ev", "") == "sync") round = j.value("round", round);
  }
  return round;
}

}  // namespace

int cmd_run(int argc, char** argv) {
  const auto plan = parse_run_job(argc, argv);
  if (!plan) return 0;
  const JobConfig& job = plan->job;
  const auto& devices = job.devices;
  const int n = job.workers(), servers = job.servers;
  const std::string& log_dir = job.log_dir;
  const std::string& mode = job.mode;
  std::error_code ec;
  fs::create_directories(log_dir, ec);
  ESYNC_CHECK_T(IoError, !ec, log_dir, ": cannot create the log directory: ", ec.message());
  const fs::path job_file = fs::path(log_dir) / "job.json",
                 port_file = fs::path(log_dir) / "coordinator.port";
  std::ofstream job_out(job_file);
  job_out << nlohmann::json(job).dump(2) << "\n";
  ESYNC_CHECK_T(IoError, job_out.flush().good(), job_file.string(), ": cannot write the job file");
  fs::remove(port_file, ec);  // a stale port from an earlier run in the same directory
  fs::remove(fs::path(log_dir) / "metrics.port", ec);
  fs::remove(fs::path(log_dir) / "launcher-0.jsonl", ec);  // and its record of lost workers

  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  char wait_timeout[32];
  std::snprintf(wait_timeout, sizeof wait_timeout, "%g", plan->wait_timeout_s);
  // K's policy and bounds and the heartbeat timeout travel in the job file.
  std::vector<std::string> coordinator_cmd = {
      exe,           "coordinator",      "--workers", std::to_string(n), "--port",    "0",
      "--port-file", port_file.string(), "--job",     job_file.string(), "--log-dir", log_dir};
  if (plan->metrics_port >= 0)
    coordinator_cmd.insert(coordinator_cmd.end(), {"--metrics-port", std::to_string(plan->metrics_port)});
  // Servers and workers, once the coordinator's address is known.
  const auto peers = [&](const std::string& address) {
    std::vector<std::pair<std::string, std::vector<std::string>>> out;
    for (int i = 0; i < servers; ++i)
      out.push_back({"server-" + std::to_string(i),
                     {exe, "server", "--shard", std::to_string(i), "--coordinator", address, "--wait-timeout",
                      wait_timeout}});
    for (int i = 0; i < n; ++i)
      out.push_back(
          {"worker-" + std::to_string(i),
           {exe, "worker", "--coordinator", address, "--device", devices[static_cast<std::size_t>(i)],
            "--rank", std::to_string(i), "--wait-timeout", wait_timeout}});
    return out;
  };
  if (plan->dry_run) {
    std::printf("coordinator\t%s\n", shell_join(coordinator_cmd).c_str());
    for (const auto& [role, cmd] : peers("{COORDINATOR}"))
      std::printf("%s\t%s\n", role.c_str(), shell_join(cmd).c_str());
    return 0;
  }

  const std::string given = env::token(), token = given.empty() ? wire::random_token() : given;
  const auto keys = plan->curve ? wire::generate_curve_keypair() : wire::CurveKeypair{};  // never printed
  std::string listed;
  for (int i = 0; i < n; ++i) {
    listed += (listed.empty() ? "" : ", ") + devices[static_cast<std::size_t>(i)];
    if (!job.batch_per_worker.empty() || !job.threads_per_worker.empty())
      listed += " batch " + std::to_string(job.batch_of(i)) + " threads " + std::to_string(job.threads_of(i));
  }
  std::printf("esync run: %d workers (%s), mode %s%s, logs in %s\n", n, listed.c_str(), mode.c_str(),
              keys.public_key.empty() ? "" : ", CURVE", log_dir.c_str());
  std::fflush(stdout);  // the group writes to the same fd, unbuffered

  // A lost worker (see below) is named with where it ran and how far it got, on the terminal
  // and in LOGDIR/launcher-0.jsonl, which the summary reads.
  JsonlLog launcher_log;
  ProcessGroupOptions gopt;
  gopt.on_lost = [&](const std::string& name, const std::string& why, bool restarting) {
    logev::LauncherLost ev;
    if (restarting) ev.restarted = true;
    ev.rank = std::stoi(name.substr(name.find('-') + 1));
    ev.host = "localhost", ev.device = devices[static_cast<std::size_t>(ev.rank)], ev.why = why;
    ev.last_round = last_round(fs::path(log_dir) / (name + ".jsonl"));
    // An allreduce group forms with every worker: one that fails before its first round leaves
    // the others at the rendezvous, so that is the job's failure, at once.
    if (servers == 0 && ev.last_round < 0) {
      std::fprintf(stderr,
                   "esync run: %s failed before the allreduce group formed, which needs every worker\n",
                   name.c_str());
      return false;
    }
    std::fprintf(stderr, "esync run: %s was on %s; its last completed round: %s\n", name.c_str(),
                 ev.device.c_str(), ev.last_round < 0 ? "none" : std::to_string(ev.last_round).c_str());
    try {
      if (!launcher_log.enabled()) launcher_log = JsonlLog(log_dir, "launcher", 0);
      launcher_log.write(ev);
    } catch (const std::exception& e) {  // the record is lost, not the job
      std::fprintf(stderr, "esync run: cannot log the loss: %s\n", e.what());
    }
    return true;
  };
  // One live line of the job's progress, from the logs (job_watch.hpp), and its last state at
  // the end.
  JobWatch watch(log_dir, job);
  gopt.status = [&watch] { return watch.status(); };
  ProcessGroup group(gopt);
  const auto finish = [&](int rc) {
    std::printf("esync run: %s\n", watch.status().c_str());
    if (rc == 0)
      std::printf("esync run: done, logs in %s\n", log_dir.c_str());
    else
      std::fprintf(stderr, "esync run: stopped (exit %d), logs in %s\n", rc, log_dir.c_str());
    return rc;
  };
  // The token, and CURVE's keys: the secret for the coordinator and the shards only (curve.hpp).
  const auto env = [&](bool server) { return wire::curve_env(keys, server, {{"ESYNC_TOKEN", token}}); };
  group.start({"coordinator", coordinator_cmd, env(true), true});
  int port = -1;
  if (!group.wait_for([&] { return (port = read_port(port_file)) > 0; }, std::chrono::seconds(10))) {
    // The group has named a failure or an interrupt already: collect the exit code.
    if (!group.error().empty()) return finish(group.wait_all(std::chrono::seconds(10)));
    ESYNC_CHECK(group.pid("coordinator") > 0, "the coordinator exited before writing its port");
    ESYNC_THROW(TimeoutError, "the coordinator did not write its port to ", port_file.string(),
                " within 10 s");
  }
  // Servers are essential (the job cannot go on without one); workers report their own end. With
  // --on-failure continue a lost worker is survivable: the shards drop it, an allreduce group
  // re-forms without it (train/regroup.hpp); rank 0 too, another worker then evaluating.
  const bool survivable = job.on_failure == "continue";
  for (auto& [role, cmd] : peers("127.0.0.1:" + std::to_string(port))) {
    const bool server = role.rfind("server", 0) == 0;
    ChildSpec spec{role, std::move(cmd), env(server), server, survivable && !server};
    if (spec.expendable) spec.restarts = plan->restarts, spec.restart_args = {"--rejoin"};
    group.start(std::move(spec));
  }
  const int rc = group.wait_all(std::chrono::seconds(plan->timeout_s));
  if (rc == 0 && !group.lost().empty())
    std::printf("esync run: the job finished without %zu lost worker(s)\n", group.lost().size());
  return finish(rc);
}

}  // namespace esync::cli
