// esync run's status line (cli/job_watch.hpp), folded from logs written here as the processes
// write them: how far the job is (the evaluation's epoch fixes an epoch's samples), the bar,
// the accuracy, each worker's K; a line written in two pieces counts once it is whole. And the
// bar every progress line shares (esync/progress.hpp). The rate and ETA depend on the clock and
// are not checked.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cli/job_watch.hpp"
#include "esync/progress.hpp"
#include "test_util.hpp"

namespace esync::cli {
namespace {

void append(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file, std::ios::app) << text;
}

TEST(Progress, TheBarIsFlooredAndClamped) {
  EXPECT_EQ(Progress::bar(0.0, 10), "[..........]   0%");
  EXPECT_EQ(Progress::bar(0.55, 10), "[#####.....]  55%");
  EXPECT_EQ(Progress::bar(0.999, 10), "[#########.] 100%");  // full only when done
  EXPECT_EQ(Progress::bar(1.0, 10), "[##########] 100%");
  EXPECT_EQ(Progress::bar(1.7, 4), "[####] 100%");
  EXPECT_EQ(Progress::bar(-0.2, 4), "[....]   0%");
}

TEST(JobWatch, FoldsTheLogsIntoOneStatusLine) {
  const auto dir = test::temp_dir("job-watch");
  JobConfig job;
  job.epochs = 2;
  job.devices = {"cpu", "cpu", "cpu"};
  JobWatch watch(dir, job);
  EXPECT_EQ(watch.status().rfind("starting | ", 0), 0u) << "nothing logged yet";

  append(dir / "worker-0.jsonl", R"({"ev":"step","t":1,"samples":300})"
                                 "\n");
  append(dir / "worker-1.jsonl", R"({"ev":"step","t":1,"samples":200})"
                                 "\n"
                                 R"({"ev":"step","t":2,"sam)");
  append(dir / "worker-0.jsonl", R"({"ev":"eval","t":2,"acc":0.8123,"epoch":0.5,"samples_seen":250})"
                                 "\n");
  append(dir / "coordinator-0.jsonl", R"({"ev":"assign","t":1,"rank":0,"k":4})"
                                      "\n"
                                      R"({"ev":"assign","t":1,"rank":2,"k":1})"
                                      "\n");
  // An epoch is 250 / 0.5 = 500 samples; 300 + 200 seen of 2 epochs' 1000.
  std::string line = watch.status();
  EXPECT_EQ(line.rfind("epoch 1.00/2 [##########..........]  50% | ", 0), 0u) << line;
  EXPECT_NE(line.find(" samples/s"), std::string::npos) << line;
  EXPECT_NE(line.find(" | acc 0.8123"), std::string::npos) << line;
  EXPECT_NE(line.find(" | K 4,-,1"), std::string::npos) << line;  // no plan for rank 1 yet

  append(dir / "worker-1.jsonl", R"(ples":450})"
                                 "\n");  // the line is whole: 300 + 450
  line = watch.status();
  EXPECT_EQ(line.rfind("epoch 1.50/2 [###############.....]  75% | ", 0), 0u) << line;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace esync::cli
