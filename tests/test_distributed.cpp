// Multi-process end to end on loopback: `esync run` starts a coordinator and three worker
// processes; every mode must drive the well-conditioned least squares to within 1e-3 of the
// initial gap (the last evaluation of rank 0), and a Fashion-MNIST ESync job with unequal
// workers must reach a stated accuracy. Convergence, not "it ran".
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {

struct RunResult {
  int code;
  nlohmann::json last_eval;
  std::vector<double> k_planned;    // median K the state server planned per rank, rounds >= 3
  std::vector<double> k_done_mean;  // steps per round each rank reported having done
  // Rounds in which the state server told a worker to run exactly k steps (assign; deadline's
  // pacer), and how many of those it did not run exactly k in.
  int exact_rounds = 0, exact_missed = 0;
  int syncs = 0, most_steps = 0;  // every worker's rounds, and the most steps one of them ran
  std::vector<double> step_lr;    // rank 0's "step" events: the rate each step ran at
};

RunResult esync_run(const std::string& name, const std::string& args) {
  const auto dir = fs::temp_directory_path() / ("esync-e2e-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string cmd = std::string(ESYNC_BINARY) + " run --log-dir " + dir.string() + " --timeout 240 " +
                          args + " > " + dir.string() + ".out 2>&1";
  const int st = std::system(cmd.c_str());
  RunResult r{WIFEXITED(st) ? WEXITSTATUS(st) : -1, nullptr, {}};
  std::ifstream in(dir / "worker-0.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["ev"] == "eval") r.last_eval = j;
    if (j["ev"] == "step") r.step_lr.push_back(j.value("lr", -1.0));
  }
  for (int rank = 0; fs::exists(dir / ("worker-" + std::to_string(rank) + ".jsonl")); ++rank) {
    std::ifstream w(dir / ("worker-" + std::to_string(rank) + ".jsonl"));
    for (std::string line; std::getline(w, line);)
      if (const auto j = nlohmann::json::parse(line, nullptr, false);
          j.is_object() && j.value("ev", "") == "sync")
        ++r.syncs, r.most_steps = std::max(r.most_steps, j.value("k_done", 0));
  }
  std::ifstream co(dir / "coordinator-0.jsonl");
  std::vector<int> rounds;
  std::vector<std::vector<int>> planned;
  std::map<std::pair<int, int>, int> exact_k;             // (rank, round) -> k, for plans to run exactly k
  std::vector<std::pair<std::pair<int, int>, int>> done;  // (rank, round) -> steps done in it
  for (std::string line; std::getline(co, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["ev"] == "assign") {
      const int rank = j["rank"].get<int>(), round = j["round"].get<int>();
      if (j.value("deadline_s", 0.0) == 0.0) exact_k[{rank, round}] = j["k"].get<int>();
      done.push_back({{rank, round - 1}, j.value("k_done", 0)});  // reported with the next round's plan
    }
    if (j["ev"] == "assign" && j["round"].get<int>() >= 3) {
      const auto rank = j["rank"].get<std::size_t>();
      if (planned.size() <= rank)
        planned.resize(rank + 1), r.k_done_mean.resize(rank + 1), rounds.resize(rank + 1);
      planned[rank].push_back(j["k"].get<int>());
      r.k_done_mean[rank] += j.value("k_done", 0.0), ++rounds[rank];  // poll logs no k_done
    }
  }
  for (std::size_t i = 0; i < rounds.size(); ++i) r.k_done_mean[i] /= std::max(1, rounds[i]);
  for (const auto& [key, k_done] : done)
    if (const auto it = exact_k.find(key); it != exact_k.end())
      r.exact_rounds++, r.exact_missed += k_done != it->second;
  for (auto& k : planned) {  // the median: one round's plan follows one round's contention
    std::sort(k.begin(), k.end());
    r.k_planned.push_back(k.empty() ? 0.0 : 0.5 * (k[(k.size() - 1) / 2] + k[k.size() / 2]));
  }
  if (r.code != 0) {
    std::ifstream out(dir.string() + ".out");
    ADD_FAILURE() << "esync run " << args << " failed:\n"
                  << std::string(std::istreambuf_iterator<char>(out), {});
  }
  return r;
}

// Every mode, over allreduce and over the parameter server (1 or 2 shards), with each variant.
class LeastSquaresModes : public ::testing::TestWithParam<std::string> {};

TEST_P(LeastSquaresModes, ConvergesToOneThousandthOfTheGap) {
  const auto args = GetParam();
  std::string name = "ls-" + args;
  for (auto& c : name)
    if (c == ' ' || c == '-') c = '_';
  // Unequal workers unless the case says otherwise (async-cached re-applies a slow worker's
  // cached gradient on every push until it sends a new one: with unequal speeds it stalls at a
  // point set by that staleness, a property of the rule, not something to test against 1e-3).
  const std::string slowdown = args.find("--slowdown") == std::string::npos ? " --slowdown 1,2,3" : "";
  // The asynchronous rules' last update may be a starved worker's gradient, computed on weights
  // as old as its starvation: on a busy host rank 0 once pushed 5 times in a 1 s job, and
  // DC-ASGD's final model stopped at 0.015. A job many times longer than such a gap ends on
  // gradients of converged weights, so these run 32 epochs instead of 8.
  const bool asynchronous = args.rfind("asgd", 0) == 0 || args.rfind("dcasgd", 0) == 0;
  const std::string epochs = asynchronous ? "32" : "8";
  // The rate of the mode's steps: the gradient modes' --lr, the model-averaging modes' --local-lr
  // (esync run refuses a flag its mode does not use); local-sgd's fixed K.
  const bool averaging = args.rfind("esync", 0) == 0 || args.rfind("local-sgd", 0) == 0;
  const std::string rate = averaging ? " --local-lr 0.2" : " --lr 0.2";
  const std::string k = args.rfind("local-sgd", 0) == 0 ? " --k-fixed 4" : "";
  const auto r = esync_run(name, "--workers 3 --mode " + args + slowdown +
                                     " --dataset least-squares --ls-matrix normal --model linreg"
                                     " --optimizer sgd --batch 256 --epochs " +
                                     epochs + rate + k + " --threads 1");
  ASSERT_EQ(r.code, 0);
  ASSERT_TRUE(r.last_eval.contains("rel_gap")) << r.last_eval.dump();
  EXPECT_LT(r.last_eval["rel_gap"].get<double>(), 1e-3) << r.last_eval.dump();
}

INSTANTIATE_TEST_SUITE_P(Allreduce, LeastSquaresModes,
                         ::testing::Values("ssgd", "esync", "esync --policy assign", "local-sgd",
                                           "esync --overlap"));
INSTANTIATE_TEST_SUITE_P(ParameterServer, LeastSquaresModes,
                         ::testing::Values("ssgd --servers 2", "esync --servers 2",
                                           "esync --policy assign --servers 1", "local-sgd --servers 1",
                                           "local-sgd --overlap --servers 1", "asgd", "asgd --delay-adaptive",
                                           "asgd --async-cached --servers 2 --slowdown 1,1,1", "dcasgd",
                                           "dcasgd --dc-adaptive --dc-lambda 0.04 --servers 2"));
// (--dc-lambda 0.04: the paper's lambda0 = 2 for the adaptive variant, set for networks,
// compensates lambda0 |g| (w - w_bak) per element; least squares' large early gradients then
// overshoot, and a starved worker's stale push on a busy host made the job diverge.)
// The same job with every ZeroMQ connection (coordinator, both shards) under CURVE.
INSTANTIATE_TEST_SUITE_P(Curve, LeastSquaresModes, ::testing::Values("esync --servers 2 --curve"));

// The optimiser options reach every mode, applied where the mode updates the weights: the
// workers' steps (ssgd over allreduce, esync's local steps) or the shards (asgd). The schedule
// runs on the job's samples; rank 0's steps log the rate they ran at.
const std::string kSmallLs =
    " --workers 2 --dataset least-squares --ls-matrix normal --model linreg --optimizer sgd --batch 256"
    " --threads 1 --log-every 1";

TEST(OptimizerOptions, ScheduleAndWarmUpRunOnTheJobsSamplesInEveryMode) {
  // ssgd: a linear warm-up over the first epoch, then cosine to 0 at the end of the fourth.
  auto r = esync_run("sched-ssgd",
                     "--mode ssgd --lr 0.2 --lr-schedule cosine --warmup-epochs 1 --epochs 4" + kSmallLs);
  ASSERT_EQ(r.code, 0);
  ASSERT_GT(r.step_lr.size(), 20u);
  EXPECT_LT(r.step_lr.front(), 0.02);  // the first step: 1/W of the rate
  EXPECT_GT(*std::max_element(r.step_lr.begin(), r.step_lr.end()), 0.15);
  EXPECT_LT(r.step_lr.back(), 0.03);  // near the end of the cosine
  EXPECT_LT(r.last_eval.value("rel_gap", 1.0), 1e-2) << r.last_eval.dump();

  // esync: x 0.5 per epoch on the local steps' --local-lr; the rate changes only between rounds.
  r = esync_run("sched-esync",
                "--mode esync --local-lr 0.2 --lr-schedule exponential --lr-gamma 0.5 --epochs 3 "
                "--k-max 4" +
                    kSmallLs);
  ASSERT_EQ(r.code, 0);
  ASSERT_FALSE(r.step_lr.empty());
  for (const double lr : r.step_lr)
    EXPECT_TRUE(std::abs(lr - 0.2) < 1e-6 || std::abs(lr - 0.1) < 1e-6 || std::abs(lr - 0.05) < 1e-6) << lr;
  EXPECT_NEAR(r.step_lr.front(), 0.2, 1e-6);
  EXPECT_NEAR(r.step_lr.back(), 0.05, 1e-6);
  EXPECT_LT(r.last_eval.value("rel_gap", 1.0), 1e-2) << r.last_eval.dump();

  // asgd: the shard steps, on the same schedule of the samples pushed to it.
  r = esync_run("sched-asgd", "--mode asgd --lr 0.2 --lr-schedule cosine --epochs 16" + kSmallLs);
  ASSERT_EQ(r.code, 0);
  ASSERT_FALSE(r.step_lr.empty());
  EXPECT_NEAR(r.step_lr.front(), 0.2, 1e-3);
  EXPECT_LT(r.step_lr.back(), 0.02);
  EXPECT_LT(r.last_eval.value("rel_gap", 1.0), 1e-2) << r.last_eval.dump();
}

TEST(OptimizerOptions, WeightDecayActsWhereEachModeUpdatesTheWeights) {
  // Least squares plus L2 decay 1 converges to about w*/2: a gap of about a quarter of the
  // initial one, which every plain run above closes to below 1e-3.
  for (const std::string mode : {"ssgd --lr 0.2", "esync --local-lr 0.2", "asgd --lr 0.2"}) {
    const auto r = esync_run("decay", "--mode " + mode + " --weight-decay 1 --epochs 8" + kSmallLs);
    ASSERT_EQ(r.code, 0) << mode;
    EXPECT_GT(r.last_eval.value("rel_gap", 0.0), 0.05) << mode << " " << r.last_eval.dump();
  }
}

// Both ways of setting K (a count from the state server, or the same plan run against the
// clock, also with the reduction behind the next round's steps): the job learns, and the faster the worker,
// the more steps it plans and does.
class FashionMnist : public ::testing::TestWithParam<std::string> {};

TEST_P(FashionMnist, EsyncWithUnequalWorkersLearnsAndGivesMoreStepsToTheFast) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  // 1, 3, 9 and the measured basis (sleep (f - 1) x the step just computed): every worker pays
  // the host's load, so the ratios hold on any host. With the nominal basis the slowed workers
  // keep their emulated speed while the unslowed one takes all of the load: 3 workers, another
  // test and two busy loops on 2 cores slowed it 3x and planned it level with the 3x one.
  std::string name = "fm-esync-" + GetParam();
  for (auto& c : name)
    if (c == ' ') c = '_';
  const auto r =
      esync_run(name,
                "--workers 3 --mode esync --slowdown 1,3,9 --slowdown-basis measured --epochs 1 --k-base 2"
                " --threads 1 --policy " +
                    GetParam());
  ASSERT_EQ(r.code, 0);
  // One epoch reaches 0.76-0.83 whatever K the host's load makes the state server plan (chance: 0.1).
  EXPECT_GE(r.last_eval.value("acc", 0.0), 0.72) << r.last_eval.dump();
  ASSERT_EQ(r.k_planned.size(), 3u);
  EXPECT_GT(r.k_planned[0], r.k_planned[1]);
  EXPECT_GT(r.k_planned[1], r.k_planned[2]);
  EXPECT_GT(r.k_done_mean[0], r.k_done_mean[1]);
  EXPECT_GT(r.k_done_mean[1], r.k_done_mean[2]);
  // A worker told to run exactly k steps (assign: all; deadline: the round's pacer) runs k.
  EXPECT_GT(r.exact_rounds, 10);
  EXPECT_EQ(r.exact_missed, 0) << "of " << r.exact_rounds << " rounds planned to run exactly k";
}

INSTANTIATE_TEST_SUITE_P(Policies, FashionMnist,
                         ::testing::Values("assign", "deadline", "deadline --overlap"));

// --k-max bounds the steps of every round under every policy (the workers once ran deadline
// rounds of up to 64 steps whatever --k-max said: the bound never reached them).
class KMax : public ::testing::TestWithParam<std::string> {};

TEST_P(KMax, BoundsEveryRound) {
  const auto r =
      esync_run("kmax-" + GetParam(),
                "--workers 3 --mode esync --slowdown 1,2,4 --dataset least-squares --ls-matrix normal"
                " --model linreg --optimizer sgd --local-lr 0.2 --epochs 2 --threads 1 --k-max 3"
                " --policy " +
                    GetParam());
  ASSERT_EQ(r.code, 0);
  ASSERT_GT(r.syncs, 30);
  EXPECT_LE(r.most_steps, 3);
}

INSTANTIATE_TEST_SUITE_P(Policies, KMax, ::testing::Values("assign", "deadline", "poll"));

// The logs of a real job fold into a summary whose numbers agree with the job's own.
TEST(Summarize, RealJobLogs) {
  const auto r = esync_run("summarize",
                           "--workers 3 --mode esync --dataset least-squares --ls-matrix normal"
                           " --model linreg --optimizer sgd --local-lr 0.2 --batch 256 --epochs 4 --threads 1"
                           " --slowdown 1,2,2");
  ASSERT_EQ(r.code, 0);
  const auto job_dir = fs::temp_directory_path() / ("esync-e2e-summarize-" + std::to_string(::getpid()));
  const auto out = job_dir.string() + ".summary.json";
  const std::string cmd =
      std::string(ESYNC_BINARY) + " summarize " + job_dir.string() + " -o " + out + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(out);
  const auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc["runs"].size(), 1u);
  const auto& run = doc["runs"][0];
  EXPECT_EQ(run["mode"], "esync");
  ASSERT_EQ(run["workers"].size(), 3u);
  double samples = 0;
  for (const auto& w : run["workers"]) {
    samples += w["samples"].get<double>();
    EXPECT_GT(w["k"]["per_round"].size(), 0u);
  }
  EXPECT_GE(samples, 4 * 10000.0);  // four epochs of the 10 000-sample problem
  EXPECT_EQ(run["accuracy"]["metric"], "rel_gap");
  EXPECT_TRUE(doc["warnings"].empty()) << doc["warnings"].dump();
}

// --epochs 0 with a --time-budget: the budget alone ends the job (it once ended after one step).
TEST(Run, TimeBudgetAloneStopsTheJob) {
  const auto r = esync_run("budget",
                           "--workers 2 --mode ssgd --dataset least-squares --ls-matrix normal --model linreg"
                           " --optimizer sgd --lr 0.1 --batch 64 --epochs 0 --time-budget 2 --threads 1"
                           " --delay constant:5ms --eval-every 0.5");
  ASSERT_EQ(r.code, 0);
  // 2 s of steps of >= 5 ms each: far more than one step, far fewer than 400.
  EXPECT_GT(r.last_eval.value("samples_seen", 0.0), 2 * 64 * 50.0) << r.last_eval.dump();
  EXPECT_LT(r.last_eval.value("samples_seen", 0.0), 2 * 64 * 400.0) << r.last_eval.dump();
}

// A bare "cuda" takes the lowest GPU ordinal no other worker names (read from --dry-run, which
// prints each process's command and starts nothing, so no GPU is needed).
TEST(Run, BareCudaWorkersGetTheirOwnOrdinals) {
  const auto out = fs::temp_directory_path() / ("esync-dry-cuda-" + std::to_string(::getpid()) + ".out");
  const std::string cmd =
      std::string(ESYNC_BINARY) + " run --workers cuda:0,cuda,cpu,cuda --dry-run --log-dir " +
      (fs::temp_directory_path() / "esync-dry-cuda").string() + " > " + out.string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(out);
  std::vector<std::string> devices;
  for (std::string line; std::getline(in, line);)
    if (const auto at = line.find(" --device "); at != std::string::npos)
      devices.push_back(line.substr(at + 10, line.find(' ', at + 10) - at - 10));
  EXPECT_EQ(devices, (std::vector<std::string>{"cuda:0", "cuda:1", "cpu", "cuda:2"}));
}

// The job file `esync run --dry-run` writes for `args`.
nlohmann::json dry_run_job(const std::string& name, const std::string& args) {
  const auto dir = fs::temp_directory_path() / ("esync-dry-" + name + "-" + std::to_string(::getpid()));
  const std::string cmd = std::string(ESYNC_BINARY) + " run --dry-run --log-dir " + dir.string() + " " +
                          args + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << args;
  std::ifstream in(dir / "job.json");
  return nlohmann::json::parse(in, nullptr, false);
}

// Defaults that depend on other flags: DC-ASGD's lambda0 is the paper's for each variant, and
// ESync averages by per-step batch unless told otherwise.
TEST(Run, DefaultsFollowTheChosenVariant) {
  EXPECT_DOUBLE_EQ(dry_run_job("dc", "--workers 2 --mode dcasgd").value("dc_lambda", 0.0), 0.04);
  EXPECT_DOUBLE_EQ(dry_run_job("dca", "--workers 2 --mode dcasgd --dc-adaptive").value("dc_lambda", 0.0),
                   2.0);
  EXPECT_DOUBLE_EQ(
      dry_run_job("dcl", "--workers 2 --mode dcasgd --dc-adaptive --dc-lambda 0.5").value("dc_lambda", 0.0),
      0.5);
  EXPECT_EQ(dry_run_job("w", "--workers 2 --mode esync").value("weighting", ""), "batch");
  EXPECT_EQ(dry_run_job("wn", "--workers 2 --mode esync --weighting normalized").value("weighting", ""),
            "normalized");
}

// The exit code of an esync command line, its output discarded.
int exit_code(const std::string& args) {
  const int st = std::system((std::string(ESYNC_BINARY) + " " + args + " > /dev/null 2>&1").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(Run, BadFlagsFailCleanly) {
  auto code = [](const std::string& args) { return exit_code("run " + args); };
  EXPECT_EQ(code("--workers 3 --slowdown 1,2"), 2);
  EXPECT_EQ(code("--workers 2 --mode nonsense"), 2);
  EXPECT_EQ(code("--workers 2 --delay sometimes:3ms"), 2);
  EXPECT_EQ(code("--workers 2 --slowdown-basis fastest"), 2);
  EXPECT_EQ(code("--workers 2 --mode ssgd --delay-adaptive"), 2);
  EXPECT_EQ(code("--workers 2 --mode ssgd --overlap"), 2);
  EXPECT_EQ(code("--workers 2 --mode asgd --delay-adaptive --async-cached"), 2);
  EXPECT_EQ(code("--workers 2 --mode esync --weighting heaviest"), 2);
  EXPECT_EQ(code("--workers 2 --mode ssgd --weighting batch"), 2);  // gradient modes average by samples
  EXPECT_EQ(exit_code("summarize /nonexistent/logs"), 2);
}

TEST(SimulateCli, OverlapModesDelaysAndBadFlags) {
  auto code = [](const std::string& args) {
    return exit_code(std::string("simulate ") + ESYNC_SOURCE_DIR +
                     "/results/distributed/overlap/delay-50ms/logs.summary.json --workers 3 --rounds 20 " +
                     args);
  };
  EXPECT_EQ(code("--modes ssgd,esync,esync+overlap,local-sgd+overlap --delay exponential:10ms"), 0);
  EXPECT_EQ(code("--modes ssgd+overlap"), 2);  // a gradient mode has no round to overlap
  EXPECT_EQ(code("--modes esync+fast"), 2);    // the only suffix is +overlap
  EXPECT_EQ(code("--delay sometimes:5ms"), 2);
  EXPECT_EQ(code("--run esync_overlap"), 2);  // an overlapped run is no calibration source
}

}  // namespace

// esync run shows the job's progress while it runs: a plain line every 10 s when its output is
// not a terminal (here, a file), one line redrawn in place on a terminal (here, a pty by
// script(1)), and the last state at the end. A 12 s time budget makes the job outlast 10 s on
// any machine.
TEST(Launcher, ShowsTheJobsProgressWhileItRuns) {
  const auto dir = fs::temp_directory_path() / ("esync-progress-" + std::to_string(::getpid()));
  const std::string job = std::string(ESYNC_BINARY) +
                          " run --workers 2 --mode esync --epochs 0 --time-budget 12 "
                          "--threads 1 --eval-every 2 --timeout 240 --log-dir " +
                          dir.string();
  fs::remove_all(dir);
  ASSERT_EQ(std::system((job + " > " + dir.string() + ".out 2>&1").c_str()), 0);
  std::ifstream in(dir.string() + ".out");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("esync run: ", 0) == 0 && line.find("samples/s") != std::string::npos)
      lines.push_back(line);
  ASSERT_GE(lines.size(), 2u) << "a periodic line and the last one";
  EXPECT_NE(lines.front().find("/12 s ["), std::string::npos) << lines.front();
  EXPECT_NE(lines.back().find("| acc 0."), std::string::npos) << lines.back();
  EXPECT_NE(lines.back().find("| K "), std::string::npos) << lines.back();

  if (std::system("command -v script > /dev/null") != 0) GTEST_SKIP() << "no script(1) for a terminal";
  fs::remove_all(dir);
  const std::string tty = "script -qefc '" + job + "' /dev/null > " + dir.string() + ".tty 2>&1";
  ASSERT_EQ(std::system(tty.c_str()), 0);
  std::ifstream t(dir.string() + ".tty");
  const std::string out((std::istreambuf_iterator<char>(t)), {});
  // Redrawn in place: the line cleared, then the status again, more than once.
  const auto redraw = out.find("\r\033[Kesync run: ");
  ASSERT_NE(redraw, std::string::npos) << out.substr(0, 2000);
  EXPECT_NE(out.find("\r\033[Kesync run: ", redraw + 1), std::string::npos);
}
