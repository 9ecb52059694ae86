// Job checkpoints without processes: which round a resume picks, which settings must match,
// and the background writer (its files, its pruning to the last two, its errors).
#include <gtest/gtest.h>

#include <filesystem>

#include "esync/error.hpp"
#include "esync/job_checkpoint.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using esync::Checkpoint;
using esync::test::temp_dir;
namespace ckpt = esync::ckpt;

namespace {

void touch(const std::string& path) {
  fs::create_directories(fs::path(path).parent_path());
  Checkpoint ck;
  ck.save(path);
}

TEST(JobCheckpoint, ResumePicksTheNewestRoundWithEveryFile) {
  const auto d = temp_dir("jobck-pick").string();
  EXPECT_FALSE(ckpt::latest_complete(d, 2, 1).has_value());
  // Round 10: everyone. Round 20: rank 1 missing (killed while it wrote). Round 30: no shard.
  for (const char* w : {"0", "1"}) touch(ckpt::worker_file(d, 10, std::stoi(w)));
  touch(ckpt::server_file(d, 10, 0));
  touch(ckpt::worker_file(d, 20, 0));
  touch(ckpt::server_file(d, 20, 0));
  touch(ckpt::worker_file(d, 30, 0));
  touch(ckpt::worker_file(d, 30, 1));
  EXPECT_EQ(ckpt::latest_complete(d, 2, 1), 10u);
  EXPECT_EQ(ckpt::latest_complete(d, 1, 1), 20u);  // asynchronous modes: rank 0 and the shards
  EXPECT_EQ(ckpt::latest_complete(d, 2, 0), 30u);  // allreduce: no shards
  // A worker lost for good: no round has all files, the newest with rank 0's and the shards' wins.
  fs::remove(ckpt::worker_file(d, 10, 1));
  EXPECT_EQ(ckpt::latest_complete(d, 2, 1), 20u);
  fs::create_directories(fs::path(d) / "round-junk");
  fs::create_directories(fs::path(d) / "notes");
  EXPECT_EQ(ckpt::latest_complete(d, 1, 1), 20u);
  EXPECT_THROW(ckpt::latest_complete(d + "/absent", 1, 0), esync::IoError);
}

TEST(JobCheckpoint, TrainingSettingsMustMatchRunTimeOnesMayChange) {
  const nlohmann::json was = {
      {"mode", "esync"},           {"lr", 0.02},     {"model", "lenet5"}, {"epochs", 1},
      {"devices", {"cpu", "cpu"}}, {"log_dir", "a"}, {"slowdown", {1, 2}}};
  auto now = was;
  now["epochs"] = 3;
  now["log_dir"] = "b";
  now["slowdown"] = {1, 4};
  now["devices"] = {"cpu", "cuda:0"};
  EXPECT_NO_THROW(ckpt::check_same_job(was, now, "ck"));
  now["lr"] = 0.020000000000000001;  // the same double, written and read back
  EXPECT_NO_THROW(ckpt::check_same_job(was, now, "ck"));
  now["lr"] = 0.05;
  try {
    ckpt::check_same_job(was, now, "ck");
    ADD_FAILURE() << "a different lr was accepted";
  } catch (const esync::ConfigError& e) {
    EXPECT_STREQ(e.what(), "ck: the checkpoint was written by a job with lr=0.02 but this job has lr=0.05");
  }
  now = was;
  now["seed"] = 7;  // a setting the checkpoint did not have
  EXPECT_THROW(ckpt::check_same_job(was, now, "ck"), esync::ConfigError);
  now = was;
  now["devices"] = {"cpu", "cpu", "cpu"};
  EXPECT_THROW(ckpt::check_same_job(was, now, "ck"), esync::ConfigError);
}

TEST(JobCheckpoint, WriterKeepsItsLastTwoAndLeavesOthersFiles) {
  const auto d = temp_dir("jobck-writer").string();
  touch(ckpt::server_file(d, 10, 0));  // another writer's file in a round this one prunes
  {
    ckpt::BackgroundWriter w("worker-0.ckpt");
    for (std::uint64_t r : {10, 20, 30, 40}) {
      Checkpoint ck;
      ck.meta = {{"round", r}};
      ck.tensors.emplace_back("flat", std::vector<float>(1000, float(r)));
      w.submit(d, r, std::move(ck));
    }
    w.finish();
  }
  EXPECT_FALSE(fs::exists(ckpt::worker_file(d, 10, 0)));
  EXPECT_TRUE(fs::exists(ckpt::server_file(d, 10, 0)));  // not ours: kept, and so is its round
  EXPECT_FALSE(fs::exists(ckpt::round_dir(d, 20)));      // ours alone: the empty round goes
  EXPECT_EQ(Checkpoint::load(ckpt::worker_file(d, 30, 0)).meta["round"], 30);
  EXPECT_EQ(Checkpoint::load(ckpt::worker_file(d, 40, 0)).tensor("flat")[999], 40.0f);
}

TEST(JobCheckpoint, WriteErrorSurfacesAtTheNextCall) {
  const auto d = temp_dir("jobck-error");
  touch((d / "file").string());
  ckpt::BackgroundWriter w("worker-0.ckpt");
  w.submit((d / "file").string(), 1, Checkpoint{});  // a directory under a file cannot be made
  EXPECT_THROW(w.finish(), std::exception);
  EXPECT_NO_THROW(w.finish());  // reported once
}

}  // namespace
