// The command line as users meet it: esync --version, help in groups, one meaning per flag, a job
// file (--config) that gives back the same job and that flags override, unknown keys named,
// flags a job does not use refused, and hostfiles in the `host slots=N` form. No training: every
// job here is a --dry-run.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Shell {
  int code;
  std::string out;  // stdout and stderr
};

Shell sh(const std::string& cmd) {
  const fs::path out = fs::temp_directory_path() / ("esync-cli-" + std::to_string(::getpid()) + ".out");
  const int st = std::system((cmd + " > " + out.string() + " 2>&1").c_str());
  std::ifstream in(out);
  Shell r{WIFEXITED(st) ? WEXITSTATUS(st) : -1, std::string(std::istreambuf_iterator<char>(in), {})};
  fs::remove(out);
  return r;
}

const std::string esync = ESYNC_BINARY;

fs::path dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("esync-cli-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

json job_file(const fs::path& log_dir) {
  std::ifstream in(log_dir / "job.json");
  return json::parse(in);
}

// esync run ARGS --dry-run into a fresh log directory; its job.json.
json dry_run(const std::string& name, const std::string& args) {
  const auto d = dir(name);
  const auto r = sh(esync + " run " + args + " --dry-run --log-dir " + d.string());
  EXPECT_EQ(r.code, 0) << args << "\n" << r.out;
  return r.code == 0 ? job_file(d) : json();
}

json without_dirs(json j) {
  j.erase("log_dir");
  j.erase("checkpoint_dir");
  return j;
}

TEST(Cli, VersionFlagAndHelpGroupsFromTheJobToHowItRuns) {
  const auto v = sh(esync + " --version");
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("esync ", 0), 0u) << v.out;
  const auto h = sh(esync + " run --help");
  ASSERT_EQ(h.code, 0);
  const auto at = [&](const std::string& group) {
    const auto p = h.out.find(" " + group + " options:");
    EXPECT_NE(p, std::string::npos) << group;
    return p;
  };
  EXPECT_LT(at("Job"), at("Data and model"));
  EXPECT_LT(at("Data and model"), at("Optimiser"));
  EXPECT_LT(at("Optimiser"), at("Parameter server"));
  EXPECT_LT(at("Launcher"), at("Emulated heterogeneity"));
}

TEST(Cli, OneMeaningPerFlag) {
  // --timeout is the whole job (esync run); a worker's or a shard's wait is --wait-timeout.
  for (const char* role :
       {"worker --coordinator 127.0.0.1:1", "server --coordinator 127.0.0.1:1 --shard 0"}) {
    const auto r = sh(esync + " " + role + " --timeout 5");
    EXPECT_EQ(r.code, 2) << role;
    EXPECT_NE(r.out.find("timeout"), std::string::npos) << r.out;
  }
  // --eval-every is seconds in run and local alike; local counts steps with --eval-every-steps.
  const auto local = sh(esync + " local --help");
  EXPECT_NE(local.out.find("--eval-every arg        Evaluate every N seconds"), std::string::npos)
      << local.out;
  EXPECT_NE(local.out.find("--eval-every-steps"), std::string::npos);
}

// A recorded job.json given back with --config makes the same job; flags given with it win.
class ConfigRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(ConfigRoundTrip, GivesTheSameJobAndFlagsOverrideIt) {
  const auto first = dir("first");
  ASSERT_EQ(sh(esync + " run " + GetParam() + " --dry-run --log-dir " + first.string()).code, 0);
  const json again = dry_run("again", "--config " + (first / "job.json").string());
  EXPECT_EQ(without_dirs(again), without_dirs(job_file(first)));
  json changed = dry_run("changed", "--config=" + (first / "job.json").string() + " --epochs 3 --seed 7");
  json expected = without_dirs(job_file(first));
  expected["epochs"] = 3, expected["seed"] = 7;
  EXPECT_EQ(without_dirs(changed), expected);
}

INSTANTIATE_TEST_SUITE_P(
    Jobs, ConfigRoundTrip,
    ::testing::Values(
        "--mode esync --workers cpu:batch=32,cpu:batch=128:threads=1 --local-lr 0.05 --nesterov "
        "--weight-decay 1e-4 --lr-schedule cosine --warmup-epochs 0.2 --epochs 2 --slowdown 1,2 "
        "--k-base 2 --eval-every 1 --log-every 5 --overlap",
        "--mode asgd --workers 3 --delay-adaptive", "--mode dcasgd --dc-adaptive --servers 2",
        "--mode ssgd --optimizer adam --lr 0.001 --servers 2 --partition by-class",
        "--mode asgd --optimizer momentum --momentum 0.5 --lr-schedule exponential --lr-gamma 0.5",
        "--mode local-sgd --k-fixed 8 --partition dirichlet --dirichlet-alpha 0.3 --epochs 0 "
        "--time-budget 30 --checkpoint-every 5 --heartbeat-timeout 20"));

TEST(Config, UnknownKeysWrongTypesAndMissingFilesAreOneLine) {
  const auto d = dir("bad");
  fs::create_directories(d);
  std::ofstream(d / "unknown.json") << R"({"mode": "asgd", "bogus": 1, "lrr": 0.1})";
  auto r = sh(esync + " run --dry-run --config " + (d / "unknown.json").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("'bogus', 'lrr'"), std::string::npos) << r.out;
  std::ofstream(d / "type.json") << R"({"epochs": "two"})";
  r = sh(esync + " run --dry-run --config " + (d / "type.json").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("'epochs'"), std::string::npos) << r.out;
  r = sh(esync + " run --dry-run --config " + (d / "absent.json").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("cannot read"), std::string::npos) << r.out;
  std::ofstream(d / "garbled.json") << "{\"mode\": ";
  r = sh(esync + " run --dry-run --config " + (d / "garbled.json").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

TEST(Config, AHandWrittenFileIsAJobOfItsOwn) {
  const auto d = dir("hand");
  fs::create_directories(d);
  // Any subset of the keys; what is left out is settled as esync run settles it.
  std::ofstream(d / "asgd.json") << R"({"mode": "asgd", "epochs": 2, "devices": ["cpu", "cpu", "cpu"]})";
  const json j = dry_run("hand-asgd", "--config " + (d / "asgd.json").string());
  EXPECT_EQ(j.value("optimizer", ""), "sgd");
  EXPECT_DOUBLE_EQ(j.value("lr", 0.0), 0.1);
  EXPECT_EQ(j.value("servers", 0), 1);
  EXPECT_EQ(j.value("devices", json::array()).size(), 3u);
  // A setting its own mode does not use is refused, as the flag would be.
  std::ofstream(d / "esync.json") << R"({"mode": "esync", "lr": 0.1})";
  const auto r = sh(esync + " run --dry-run --config " + (d / "esync.json").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--lr is for the gradient modes"), std::string::npos) << r.out;
  // An override may change the mode of a recorded job: its settings for the old one stay, unused.
  const auto esync_job = dir("recorded");
  ASSERT_EQ(sh(esync + " run --mode esync --k-base 2 --dry-run --log-dir " + esync_job.string()).code, 0);
  const json other =
      dry_run("hand-other", "--config " + (esync_job / "job.json").string() + " --mode local-sgd");
  EXPECT_EQ(other.value("mode", ""), "local-sgd");
  EXPECT_EQ(other.value("k_base", 0), 2);
}

TEST(Config, OverridesSettleWhatDependsOnThemAnew) {
  // Threads per worker: cores / workers, for the workers the command line gives.
  const auto one = dir("one-worker");
  ASSERT_EQ(sh(esync + " run --workers 1 --dry-run --log-dir " + one.string()).code, 0);
  const json more = dry_run("more-workers", "--config " + (one / "job.json").string() + " --workers 2");
  EXPECT_EQ(more.value("threads", 0), dry_run("two-workers", "--workers 2").value("threads", -1));
  // A cosine schedule from the file and a time budget alone on the command line: refused.
  const auto cosine = dir("cosine");
  ASSERT_EQ(sh(esync + " run --lr-schedule cosine --dry-run --log-dir " + cosine.string()).code, 0);
  const auto r = sh(esync + " run --dry-run --config " + (cosine / "job.json").string() +
                    " --epochs 0 --time-budget 10");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("it needs --epochs"), std::string::npos) << r.out;
  // A directory that holds a run already is never written over by a re-run of its job.
  json moved = job_file(cosine);
  const auto d = dir("moved");
  fs::create_directories(d);
  std::ofstream(d / "job.json") << moved.dump();
  const json again = dry_run("moved-again", "--config " + (d / "job.json").string());
  EXPECT_NE(again.value("log_dir", ""), cosine.string());
}

TEST(Flags, ThoseTheJobDoesNotUseAreRefused) {
  const std::pair<const char*, const char*> cases[] = {
      {"--mode esync --lr 0.1", "--lr is for the gradient modes"},
      {"--mode local-sgd --lr 0.1", "--lr is for the gradient modes"},
      {"--mode ssgd --local-lr 0.1", "--local-lr is for the model-averaging modes"},
      {"--mode asgd --global-lr 2", "--global-lr is for the model-averaging modes"},
      {"--mode asgd --momentum 0.5", "--momentum is for --optimizer momentum"},
      {"--mode ssgd --optimizer adam --nesterov", "--nesterov is for --optimizer momentum"},
      {"--mode ssgd --lr-gamma 0.5", "--lr-gamma is for --lr-schedule exponential"},
      {"--mode esync --k-fixed 3", "--k-fixed is for local-sgd"},
      {"--mode local-sgd --k-base 3", "--k-base is for esync"},
      {"--mode ssgd --weighting samples", "--weighting is for the model-averaging modes"},
      {"--mode asgd --dc-lambda 1", "--dc-lambda is for dcasgd"},
      {"--dirichlet-alpha 0.1", "--dirichlet-alpha is for --partition dirichlet"},
      {"--ls-matrix normal", "--ls-matrix is for --dataset least-squares"},
      {"--epochs 0 --time-budget 10 --lr-schedule cosine",
       "--lr-schedule cosine decays to 0 at the last epoch"},
      {"--workers cpu,cpu --backend nccl", "--backend nccl: worker on cpu"},
  };
  for (const auto& [args, needle] : cases) {
    const auto r = sh(esync + " run --dry-run --log-dir " + dir("unused").string() + " " + args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << args << "\n" << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
  const auto local = sh(esync + " local --momentum 0.5 --optimizer sgd --steps 1");
  EXPECT_EQ(local.code, 2);
  EXPECT_NE(local.out.find("--momentum is for --optimizer momentum"), std::string::npos) << local.out;
}

TEST(Hostfile, SlotsFormGivesThatManyWorkers) {
  const auto d = dir("slots");
  fs::create_directories(d);
  std::ofstream(d / "hosts") << "127.0.0.1 slots=3 max_slots=8  # as DeepSpeed and MPI write them\n";
  const std::string cluster = "ESYNC_BIN=" + esync + " bash " + std::string(ESYNC_SOURCE_DIR) +
                              "/launch/cluster.sh --hostfile " + (d / "hosts").string() + " --dry-run";
  for (const char* kind : {"cpu", "cuda"}) {
    const auto r = sh(cluster + " --device " + kind + " -- --log-dir " + (d / kind).string());
    ASSERT_EQ(r.code, 0) << r.out;
    for (int i = 0; i < 3; ++i) {
      const std::string device = std::string(kind) == "cpu" ? "cpu" : "cuda:" + std::to_string(i);
      EXPECT_NE(r.out.find("--device " + device + " --rank " + std::to_string(i)), std::string::npos)
          << r.out;
    }
    EXPECT_EQ(r.out.find("--rank 3"), std::string::npos) << r.out;
  }
  // A job file through cluster.sh: its settings, the hostfile's devices.
  const auto recorded = dir("for-cluster");
  ASSERT_EQ(sh(esync + " run --mode local-sgd --k-fixed 6 --lr-schedule exponential --dry-run --log-dir " +
               recorded.string())
                .code,
            0);
  const auto r3 = sh(cluster + " -- --config " + (recorded / "job.json").string() + " --log-dir " +
                     (d / "from-config").string());
  ASSERT_EQ(r3.code, 0) << r3.out;
  const json j = job_file(d / "from-config");
  EXPECT_EQ(j.value("mode", ""), "local-sgd");
  EXPECT_EQ(j.value("k_fixed", 0), 6);
  EXPECT_EQ(j.value("lr_schedule", ""), "exponential");
  EXPECT_EQ(j.value("devices", json::array()).size(), 3u);

  std::ofstream(d / "zero") << "127.0.0.1 slots=0\n";
  const auto r = sh("ESYNC_BIN=" + esync + " bash " + std::string(ESYNC_SOURCE_DIR) +
                    "/launch/cluster.sh --dry-run --hostfile " + (d / "zero").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("slots=0"), std::string::npos) << r.out;
}

}  // namespace
