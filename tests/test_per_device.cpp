// Per-device settings through `esync run`: each worker of --workers may carry its own batch and
// threads (a GPU and a CPU want different batches). The job learns, every worker's log says its
// own batch, and each worker's rounds really ran that batch per step.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Runs `esync run args` into a fresh log directory, with `env` (VAR=value ...) before it;
// returns its exit code.
int run(const fs::path& dir, const std::string& args, const std::string& env = "") {
  fs::remove_all(dir);
  const std::string cmd = env + " " + std::string(ESYNC_BINARY) + " run --log-dir " + dir.string() +
                          " --timeout 600 " + args + " > " + dir.string() + ".out 2>&1";
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string output(const fs::path& dir) {
  std::ifstream in(dir.string() + ".out");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Rank 0's "end" summary.
json end_summary(const fs::path& dir) {
  std::ifstream in(dir / "worker-0.jsonl");
  json out;
  for (std::string line; std::getline(in, line);) {
    const auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("ev", "") == "end") out = j.value("summary", json::object());
  }
  return out;
}

}  // namespace

// A GPU worker synchronises through host copies of its model (sync_staging.hpp). Forced on CPU
// workers, that path must change nothing: the deterministic modes end with the very same model
// (final loss equal to the last bit) over the allreduce gradient path (ssgd), the model path
// (local-sgd) and the parameter server's partial upload of the parameters (ssgd --servers 1).
TEST(PerDevice, StagedSynchronisationEndsWithTheSameModel) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto dir = fs::temp_directory_path() / ("esync-staging-" + std::to_string(::getpid()));
  for (const std::string mode : {"--mode ssgd", "--mode local-sgd --k-fixed 4", "--mode ssgd --servers 1"}) {
    const std::string args = "--workers 2 --model mlp --epochs 1 --threads 1 " + mode;
    json got[2];
    for (int staged = 0; staged < 2; ++staged) {
      ASSERT_EQ(run(dir, args, staged ? "ESYNC_FORCE_STAGING=1" : ""), 0) << output(dir);
      got[staged] = end_summary(dir);
      EXPECT_EQ(got[staged].value("staging", ""), staged ? "host" : "none") << mode;
    }
    ASSERT_TRUE(got[0]["final"].contains("loss")) << got[0].dump();
    EXPECT_EQ(got[0]["final"]["loss"].get<double>(), got[1]["final"]["loss"].get<double>()) << mode;
    EXPECT_EQ(got[0]["final"]["acc"].get<double>(), got[1]["final"]["acc"].get<double>()) << mode;
    EXPECT_GE(got[1]["final"]["acc"].get<double>(), 0.80) << mode;
    EXPECT_GT(got[1].value("staging_s", -1.0), 0.0) << mode;
  }
}

TEST(PerDevice, WorkersWithTheirOwnBatchLearnAndLogIt) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto dir = fs::temp_directory_path() / ("esync-per-device-" + std::to_string(::getpid()));
  ASSERT_EQ(run(dir, "--workers cpu:batch=32,cpu:batch=128:threads=1 --mode esync --epochs 1 --threads 1"), 0)
      << output(dir);
  const std::int64_t want[2] = {32, 128};
  double acc = -1;
  for (int rank = 0; rank < 2; ++rank) {
    std::ifstream in(dir / ("worker-" + std::to_string(rank) + ".jsonl"));
    double samples = 0, steps = 0;
    for (std::string line; std::getline(in, line);) {
      const auto j = json::parse(line, nullptr, false);
      if (!j.is_object()) continue;
      if (j.value("ev", "") == "start") {
        EXPECT_EQ(j.value("batch", 0), want[rank]) << line;
        EXPECT_EQ(j.value("threads", 0), 1) << line;
      }
      if (j.value("ev", "") == "sync") samples += j.value("samples", 0.0), steps += j.value("k_done", 0.0);
      if (j.value("ev", "") == "eval") acc = j.value("acc", acc);
    }
    ASSERT_GT(steps, 0) << "rank " << rank;
    // Every step but an epoch's last (a shorter remainder) draws the worker's own batch.
    EXPECT_NEAR(samples / steps, double(want[rank]), 0.02 * double(want[rank])) << "rank " << rank;
  }
  // One epoch of ESync over two workers (chance: 0.1); the per-step-batch weighting gives the
  // batch-128 worker four times the batch-32 worker's weight per step, as the samples say.
  EXPECT_GE(acc, 0.72);
}

TEST(PerDevice, BadWorkerOptionsFailWithOneLine) {
  const auto dir = fs::temp_directory_path() / ("esync-per-device-bad-" + std::to_string(::getpid()));
  for (const char* spec : {"cpu:batch=0", "cpu:batch=x", "cpu:lr=3", "gpu:batch=3", "cpu:batch"}) {
    EXPECT_EQ(run(dir, std::string("--workers ") + spec + " --dry-run"), 2) << spec;
    const std::string out = output(dir);
    EXPECT_NE(out.find("--workers"), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }
  // --dry-run's job file carries the per-worker lists for the workers to read.
  ASSERT_EQ(run(dir, "--workers cpu:batch=32,cuda:1:threads=4,cpu --dry-run"), 0) << output(dir);
  std::ifstream in(dir / "job.json");
  const auto job = json::parse(in);
  EXPECT_EQ(job["devices"], json({"cpu", "cuda:1", "cpu"}));
  EXPECT_EQ(job["batch_per_worker"], json({32, 0, 0}));
  EXPECT_EQ(job["threads_per_worker"], json({0, 4, 0}));
}

// A CUDA device is refused before any work, in one line that says what is missing and where the
// README says more: Debian's LibTorch has no CUDA. (Built against a CUDA LibTorch on a GPU host,
// the same commands train; launch/device-check.sh runs them there.)
TEST(PerDevice, CudaDevicesAreRefusedUpFrontInOneLine) {
  const auto dir = fs::temp_directory_path() / ("esync-per-device-cuda-" + std::to_string(::getpid()));
  for (const std::string args : {"run --workers cuda:0,cpu --epochs 1", "local --device cuda:0 --epochs 1"}) {
    fs::remove_all(dir);
    const std::string cmd = std::string(ESYNC_BINARY) + " " + args + " --log-dir " + dir.string() + " > " +
                            dir.string() + ".out 2>&1";
    const int st = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(st)) << args;
    EXPECT_EQ(WEXITSTATUS(st), 2) << args;
    const std::string out = output(dir);
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_NE(out.find("cuda:0"), std::string::npos) << out;
    EXPECT_NE(out.find("GPU hosts"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(dir / "worker-0.jsonl")) << "a worker started: " << args;
  }
}
