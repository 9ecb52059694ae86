// Job checkpoints end to end: `esync run --checkpoint-every N` killed with SIGKILL mid-job (its
// children die with it), then `esync run --resume DIR` finishes it. The resumed job must end
// where an uninterrupted one ends (least squares: the same final gap; Fashion-MNIST: the same
// accuracy within a point), and a checkpoint whose job differs, or is corrupt, is refused.
#include <signal.h>

#include "esync/checkpoint.hpp"
#include "esync/job_checkpoint.hpp"
#include "fault_job.hpp"

using namespace esync::test;

namespace {

struct JobRun {
  fs::path dir;
  int code = -1;
  json last_eval;
};

std::vector<std::string> run_args(const fs::path& dir, const std::string& args) {
  std::vector<std::string> argv{ESYNC_BINARY, "run", "--log-dir", dir.string(), "--timeout", "200"};
  std::istringstream in(args);
  for (std::string a; in >> a;) argv.push_back(a);
  return argv;
}

JobRun finish_run(const fs::path& dir, pid_t pid) {
  JobRun r{dir, wait_exit(pid, 240), json()};
  const auto evals = events(dir / "worker-0.jsonl", "eval");
  if (!evals.empty()) r.last_eval = evals.back();
  return r;
}

JobRun run_to_end(const std::string& name, const std::string& args) {
  const auto dir = temp_dir(name);
  return finish_run(dir, spawn(run_args(dir, args), dir.string() + ".out"));
}

// Starts the job, SIGKILLs `esync run` once round `round`'s checkpoint is complete (the children
// die with it: PR_SET_PDEATHSIG), and returns the checkpoint directory.
fs::path run_and_kill(const std::string& name, const std::string& args, std::uint64_t round, int shards) {
  const auto dir = temp_dir(name);
  const pid_t pid = spawn(run_args(dir, args), dir.string() + ".out");
  char sub[32];
  std::snprintf(sub, sizeof sub, "round-%08llu", static_cast<unsigned long long>(round));
  const auto ck = dir / "checkpoint" / sub;
  const bool complete = wait_until(
      [&] {
        bool all = fs::exists(ck / "worker-0.ckpt");
        for (int s = 0; s < shards; ++s)
          all = all && fs::exists(ck / ("server-" + std::to_string(s) + ".ckpt"));
        return all;
      },
      120);
  const bool running = ::waitpid(pid, nullptr, WNOHANG) == 0;
  ::kill(pid, SIGKILL);
  wait_exit(pid, 10);
  EXPECT_TRUE(complete) << "no complete checkpoint of round " << round << ":\n"
                        << slurp(dir.string() + ".out");
  EXPECT_TRUE(running) << "the job ended before it could be killed";
  EXPECT_TRUE(events(dir / "worker-0.jsonl", "end").empty()) << "killed mid-job: rank 0 never ended";
  return dir / "checkpoint";
}

double rel_gap(const JobRun& r) { return r.last_eval.value("rel_gap", 1e9); }

const std::string kLeastSquares =
    " --dataset least-squares --ls-matrix normal --model linreg --optimizer sgd --batch 128 --epochs 8 "
    "--threads 1"
    " --checkpoint-every 10 --delay constant:10ms";

// SSGD over gloo with a fixed data order: the resumed job repeats the uninterrupted one.
TEST(Resume, SsgdAllreduceEndsWhereTheUninterruptedJobEnds) {
  const std::string args = "--workers 2 --mode ssgd --lr 0.2" + kLeastSquares;
  const JobRun whole = run_to_end("resume-ssgd-whole", args);
  ASSERT_EQ(whole.code, 0);
  const auto ck = run_and_kill("resume-ssgd-killed", args, 60, 0);
  const JobRun resumed = run_to_end("resume-ssgd-resumed", args + " --resume " + ck.string());
  ASSERT_EQ(resumed.code, 0) << slurp(resumed.dir.string() + ".out");
  const auto start = events(resumed.dir / "worker-1.jsonl", "start");
  ASSERT_EQ(start.size(), 1u);
  EXPECT_GE(start[0]["config"]["resume"]["round"].get<int>(), 60);
  EXPECT_LT(rel_gap(resumed), 1e-3) << resumed.last_eval.dump();
  EXPECT_NEAR(rel_gap(resumed), rel_gap(whole), 1e-3 * rel_gap(whole) + 1e-9)
      << "whole " << whole.last_eval.dump() << "\nresumed " << resumed.last_eval.dump();
  // The resumed job ran only the rest: fewer rounds than the whole one.
  EXPECT_LT(events(resumed.dir / "worker-0.jsonl", "sync").size(),
            events(whole.dir / "worker-0.jsonl", "sync").size());
}

// ASGD over two shards: rank 0's file and the shards' hold the model and the server optimiser.
TEST(Resume, AsgdOverTwoShardsConverges) {
  const std::string args = "--workers 3 --mode asgd --servers 2 --lr 0.1" + kLeastSquares;
  // 625 pushes in all; rank 0 makes a third of them on a fair host, more than 50 on any.
  const auto ck = run_and_kill("resume-asgd-killed", args, 50, 2);
  const JobRun resumed = run_to_end("resume-asgd-resumed", args + " --resume " + ck.string());
  ASSERT_EQ(resumed.code, 0) << slurp(resumed.dir.string() + ".out");
  EXPECT_LT(rel_gap(resumed), 1e-3) << resumed.last_eval.dump();
  for (int s = 0; s < 2; ++s)
    EXPECT_EQ(events(resumed.dir / ("server-" + std::to_string(s) + ".jsonl"), "resume").size(), 1u)
        << "shard " << s;
}

// ESync with --overlap: the reduction of the round before a checkpoint and of the checkpoint's
// own round are settled, so every worker's file holds the same model, bit for bit (otherwise the
// ranks would resume from different global models and never agree again); the resumed job converges.
TEST(Resume, EsyncOverlapCheckpointsOneModelAndConverges) {
  // K comes from measured step times; --k-max bounds the samples a round can take, so the job has
  // at least 80 000 / (3 x 4 x 128) = 52 rounds however the host's load skews the plan.
  const std::string args =
      "--workers 3 --mode esync --overlap --slowdown 1,2,3 --local-lr 0.2 --k-base 2 --k-max 4" +
      kLeastSquares;
  const auto ck = run_and_kill("resume-overlap-killed", args, 20, 0);
  const auto round = esync::ckpt::latest_complete(ck.string(), 3, 0);
  ASSERT_TRUE(round.has_value()) << "no round with all three worker files in " << ck;
  std::vector<std::vector<float>> flat;
  for (int w = 0; w < 3; ++w)
    flat.push_back(esync::Checkpoint::load(esync::ckpt::worker_file(ck.string(), *round, w)).tensor("flat"));
  EXPECT_EQ(flat[1], flat[0]) << "round " << *round << ": rank 1's model differs from rank 0's";
  EXPECT_EQ(flat[2], flat[0]) << "round " << *round << ": rank 2's model differs from rank 0's";
  const JobRun resumed = run_to_end("resume-overlap-resumed", args + " --resume " + ck.string());
  ASSERT_EQ(resumed.code, 0) << slurp(resumed.dir.string() + ".out");
  EXPECT_LT(rel_gap(resumed), 1e-3) << resumed.last_eval.dump();
}

// The user-facing case: an ESync job on Fashion-MNIST over the parameter server, killed and
// resumed, reaches the accuracy of the same job run without interruption.
TEST(Resume, EsyncFashionMnistReachesTheSameAccuracy) {
  const std::string args =
      "--workers 3 --mode esync --servers 2 --slowdown 1,2,4 --model mlp --epochs 1 --local-lr 0.05 --k-base "
      "2"
      " --k-max 6 --threads 1 --eval-every 2 --checkpoint-every 10";
  // At least 60 000 / (3 x 6 x 64) = 52 rounds whatever K the load makes the state server plan.
  const JobRun whole = run_to_end("resume-fm-whole", args);
  ASSERT_EQ(whole.code, 0) << slurp(whole.dir.string() + ".out");
  const auto ck = run_and_kill("resume-fm-killed", args, 30, 2);
  const JobRun resumed = run_to_end("resume-fm-resumed", args + " --resume " + ck.string());
  ASSERT_EQ(resumed.code, 0) << slurp(resumed.dir.string() + ".out");
  const double a = whole.last_eval.value("acc", 0.0), b = resumed.last_eval.value("acc", 0.0);
  std::printf("uninterrupted accuracy %.4f, killed at round >= 30 and resumed %.4f\n", a, b);
  // ESync's K comes from measured step times, so two uninterrupted runs differ too: final
  // accuracies of this job spread by up to ~0.02 (0.8475 against 0.8301 once in CI). The exact
  // resume check is the SSGD test above; this one asks for the same accuracy within that noise.
  EXPECT_GT(a, 0.78);
  EXPECT_GT(b, 0.78);
  EXPECT_NEAR(b, a, 0.03);
}

TEST(Resume, RefusesAnotherJobsOrACorruptCheckpoint) {
  const std::string args = "--workers 2 --mode ssgd --lr 0.2" + kLeastSquares;
  const auto ck = run_and_kill("resume-refuse-killed", args, 20, 0);
  const auto refused = [&](const std::string& name, const std::string& more, const std::string& says) {
    const JobRun r = run_to_end(name, more);
    EXPECT_NE(r.code, 0) << more;
    const auto out = slurp(r.dir.string() + ".out");
    EXPECT_NE(out.find(says), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(r.dir / "worker-0.jsonl")) << "refused before anything started";
  };
  refused("resume-refuse-lr", "--workers 2 --mode ssgd --lr 0.3" + kLeastSquares + " --resume " + ck.string(),
          "checkpoint was written by a job with lr=0.2 but this job has lr=0.3");
  refused("resume-refuse-workers",
          "--workers 3 --mode ssgd --lr 0.2" + kLeastSquares + " --resume " + ck.string(),
          "of 2 workers but this job has 3");
  refused("resume-refuse-mode", "--workers 2 --mode esync" + kLeastSquares + " --resume " + ck.string(),
          "mode=\"ssgd\"");
  refused("resume-refuse-none", args + " --resume " + (ck / "nothing").string(),
          "no such checkpoint directory");
  // Corrupt the newest file: its checksum no longer matches.
  std::uint64_t newest = 0;
  for (const auto& e : fs::directory_iterator(ck))
    newest = std::max<std::uint64_t>(newest, std::stoull(e.path().filename().string().substr(6)));
  char sub[32];
  std::snprintf(sub, sizeof sub, "round-%08llu", static_cast<unsigned long long>(newest));
  {
    std::fstream f(ck / sub / "worker-0.ckpt", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  refused("resume-refuse-corrupt", args + " --resume " + ck.string(), "checksum mismatch");
}

}  // namespace
