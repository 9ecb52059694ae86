// esync local end to end: convergence (least squares, Fashion-MNIST), checkpoint and resume,
// the JSONL log, and the CLI's handling of bad input (one line, exit 2).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "esync/error.hpp"
#include "esync/train_config.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using esync::train::LocalConfig;

namespace {

using esync::test::temp_dir;

LocalConfig least_squares(std::int64_t steps) {
  LocalConfig c;
  c.data.name = "least-squares";
  c.data.ls_matrix = "normal";
  c.model = "linreg";
  c.opt.kind = "sgd";
  c.opt.lr = 0.2f;
  c.batch = 256;
  c.steps = steps;
  c.lr_schedule = "none";
  c.threads = 1;
  c.quiet = true;
  return c;
}

TEST(Local, LeastSquaresConverges) {
  // Well conditioned: plain SGD, lr 0.2, batch 256, 300 steps reaches 1e-3 of the initial gap.
  const auto s = esync::train::run_local(least_squares(300));
  EXPECT_LT(s["final"]["rel_gap"].get<double>(), 1e-3);
  EXPECT_GT(s["f0"].get<double>(), s["f_star"].get<double>());
}

TEST(Local, FashionMnistLenet5OneEpoch) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  LocalConfig c;  // the defaults: lenet5, batch 64, momentum SGD lr 0.02 mu 0.9, cosine schedule
  c.epochs = 1;
  c.threads = 1;
  c.quiet = true;
  const auto dir = temp_dir("fm");
  c.log_dir = dir.string();
  const auto s = esync::train::run_local(c);
  EXPECT_GE(s["final"]["acc"].get<double>(), 0.84);
  // The log: start, evals (step 0 and epoch 1), steps, end with status ok; every line JSON.
  std::ifstream in(dir / "local-0.jsonl");
  std::map<std::string, int> count;
  std::string line, last;
  while (std::getline(in, line)) {
    count[nlohmann::json::parse(line)["ev"].get<std::string>()]++;
    last = line;
  }
  EXPECT_EQ(count["start"], 1);
  EXPECT_EQ(count["eval"], 2);
  EXPECT_GE(count["step"], 900 / 50);
  EXPECT_EQ(nlohmann::json::parse(last)["status"], "ok");
}

TEST(Local, ResumeContinuesExactly) {
  const auto dir = temp_dir("resume");
  auto c = least_squares(0);
  c.steps = 0;
  c.epochs = 4;  // 40 steps per epoch (10000 / 256, rounded up)
  const auto straight = esync::train::run_local(c);
  c.epochs = 2;
  c.save = (dir / "ck").string();
  esync::train::run_local(c);
  c.epochs = 4;
  c.resume = c.save;
  const auto resumed = esync::train::run_local(c);
  EXPECT_NEAR(resumed["final"]["loss"].get<double>(), straight["final"]["loss"].get<double>(), 1e-9);
  EXPECT_EQ(resumed["steps"], 80);
  // A checkpoint of another model is refused.
  auto other = c;
  other.data.name = "fashion-mnist";
  other.model = "mlp";
  EXPECT_THROW(esync::train::run_local(other), esync::ConfigError);
}

struct Cli {
  int code;
  std::string err;
};

Cli run_cli(const std::string& args) {
  const auto err_file = fs::temp_directory_path() / ("esync-cli-err-" + std::to_string(::getpid()));
  const std::string cmd = std::string(ESYNC_BINARY) + " " + args + " >/dev/null 2>" + err_file.string();
  const int st = std::system(cmd.c_str());
  std::ifstream in(err_file);
  std::string err((std::istreambuf_iterator<char>(in)), {});
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, err};
}

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(Cli, BadInputIsOneLineAndExit2) {
  for (const std::string args : {"local --epochs", "local --no-such-flag", "local --lr -1",
                                 "local --model vgg99 --dataset least-squares",
                                 "local --optimizer rmsprop --dataset least-squares --model linreg",
                                 "local --lr-schedule weird --dataset least-squares --model linreg",
                                 "bench nothing", "local extra-positional"}) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_EQ(lines(r.err), 1) << args << ": " << r.err;
  }
  EXPECT_EQ(run_cli("frobnicate").code, 2);
}

TEST(Cli, MissingAndCorruptDataNameTheFile) {
  const auto dir = temp_dir("cli");
  auto r = run_cli("local --data-dir " + dir.string() + " --quiet");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find((dir / "train-images-idx3-ubyte.gz").string()), std::string::npos) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  { std::ofstream(dir / "train-images-idx3-ubyte.gz") << "garbage that is not IDX"; }
  r = run_cli("local --data-dir " + dir.string() + " --quiet");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("bad IDX magic"), std::string::npos) << r.err;
  { std::ofstream(dir / "ck") << "ESYNCCK1 but then nothing useful at all"; }
  r = run_cli("local --dataset least-squares --model linreg --resume " + (dir / "ck").string() + " --quiet");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("checkpoint"), std::string::npos) << r.err;
}

}  // namespace
