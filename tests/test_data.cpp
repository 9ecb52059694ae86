// Data: IDX and CIFAR readers on files the test writes (good and each kind of bad), the real
// Fashion-MNIST files when installed, least squares, and the partitioners.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "esync/error.hpp"
#include "test_util.hpp"
#include "train/data/dataset.hpp"
#include "train/data/partition.hpp"
#include "train/sampler.hpp"

namespace fs = std::filesystem;
using namespace esync::train;

namespace {

using esync::test::temp_dir;

std::string be32(std::uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

void write_gz(const fs::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), int(bytes.size()));
  gzclose(f);
}

std::string images(std::uint32_t n, std::uint32_t count_override = 0) {
  std::string s = be32(0x803) + be32(count_override ? count_override : n) + be32(28) + be32(28);
  for (std::uint32_t i = 0; i < n * 784; ++i) s.push_back(char(i % 251));
  return s;
}

std::string labels(std::uint32_t n) {
  std::string s = be32(0x801) + be32(n);
  for (std::uint32_t i = 0; i < n; ++i) s.push_back(char(i % 10));
  return s;
}

template <typename F>
std::string io_error_of(F f) {
  try {
    f();
  } catch (const esync::IoError& e) {
    return e.what();
  }
  return "<no IoError>";
}

TEST(Idx, ReadsValidPair) {
  const auto d = temp_dir("ok");
  write_gz(d / "x.gz", images(5));
  write_gz(d / "y.gz", labels(5));
  const auto s = read_idx_pair((d / "x.gz").string(), (d / "y.gz").string());
  EXPECT_EQ(s.x.sizes(), (std::vector<std::int64_t>{5, 1, 28, 28}));
  EXPECT_EQ(s.y[3].item<std::int64_t>(), 3);
  EXPECT_EQ(s.x[0][0][0][5].item<std::uint8_t>(), 5);
}

TEST(Idx, EachDefectIsANamedIoError) {
  const auto d = temp_dir("bad");
  const std::string f = (d / "bad.gz").string();
  write_gz(f, be32(0x802) + be32(1) + be32(1) + be32(1) + "x");
  EXPECT_NE(io_error_of([&] { read_idx(f, 3); }).find("bad IDX magic"), std::string::npos);
  write_gz(f, images(4, 5));  // header promises 5 images, holds 4
  auto msg = io_error_of([&] { read_idx(f, 3); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find(f), std::string::npos) << msg;
  write_gz(f, images(5) + "extra");
  EXPECT_NE(io_error_of([&] { read_idx(f, 3); }).find("trailing"), std::string::npos);
  write_gz(f, "\x00\x00");
  EXPECT_NE(io_error_of([&] { read_idx(f, 3); }).find("truncated IDX header"), std::string::npos);
  EXPECT_NE(io_error_of([&] { read_idx((d / "missing.gz").string(), 3); }).find("no such file"),
            std::string::npos);
  // A gzip stream cut in half.
  write_gz(f, images(50));
  fs::resize_file(f, fs::file_size(f) / 2);
  EXPECT_NE(io_error_of([&] { read_idx(f, 3); }).find("gzip"), std::string::npos);
  // Images and labels that disagree in count.
  write_gz(d / "x.gz", images(5));
  write_gz(d / "y.gz", labels(4));
  EXPECT_NE(io_error_of([&] { read_idx_pair((d / "x.gz").string(), (d / "y.gz").string()); }).find("labels"),
            std::string::npos);
}

TEST(Idx, MissingDataDirNamesTheFile) {
  DataOptions o;
  o.dir = "/nonexistent/esync";
  const auto msg = io_error_of([&] { load_dataset(o); });
  EXPECT_NE(msg.find("/nonexistent/esync/train-images-idx3-ubyte.gz"), std::string::npos) << msg;
}

TEST(FashionMnist, RealFilesLoadAndNormalise) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto ds = load_dataset(DataOptions{});
  EXPECT_EQ(ds.train.size(), 60000);
  EXPECT_EQ(ds.test.size(), 10000);
  EXPECT_EQ(ds.num_classes, 10);
  EXPECT_EQ(ds.train.x.scalar_type(), torch::kUInt8);  // stored compact, normalised per batch
  const auto x = ds.train.inputs(0, 10000);
  EXPECT_NEAR(x.mean().item<double>(), 0.0, 0.05);
  EXPECT_NEAR(x.std().item<double>(), 1.0, 0.05);
  EXPECT_EQ(ds.train.y.bincount().min().item<std::int64_t>(), 6000);  // balanced classes
}

TEST(Cifar, ReadsRecordsAndRejectsBadFiles) {
  const auto d = temp_dir("cifar");
  std::string rec;
  for (int r = 0; r < 3; ++r) {
    rec.push_back(char(r + 1));
    for (int i = 0; i < 3072; ++i) rec.push_back(char((r * 7 + i) % 256));
  }
  { std::ofstream(d / "b.bin", std::ios::binary) << rec; }
  const auto s = read_cifar_batches({(d / "b.bin").string()});
  EXPECT_EQ(s.x.sizes(), (std::vector<std::int64_t>{3, 3, 32, 32}));
  EXPECT_EQ(s.y[2].item<std::int64_t>(), 3);
  EXPECT_EQ(s.x[1][0][0][1].item<std::uint8_t>(), 8);
  { std::ofstream(d / "short.bin", std::ios::binary) << rec.substr(0, 5000); }
  EXPECT_NE(io_error_of([&] { read_cifar_batches({(d / "short.bin").string()}); }).find("3073"),
            std::string::npos);
  rec[0] = char(11);
  { std::ofstream(d / "label.bin", std::ios::binary) << rec; }
  EXPECT_NE(io_error_of([&] { read_cifar_batches({(d / "label.bin").string()}); }).find("label 11"),
            std::string::npos);
}

TEST(LeastSquares, SeedSetupAndOptimum) {
  const auto ds = make_least_squares(2000, 50, "uniform", 7);
  EXPECT_EQ(ds.train.x.sizes(), (std::vector<std::int64_t>{2000, 50}));
  EXPECT_GE(ds.train.x.min().item<float>(), 0.0f);
  EXPECT_LT(ds.train.x.max().item<float>(), 1.0f / std::sqrt(50.0f));
  // F* is about the noise floor 1/2 * 0.01 * (1 - d/n), and no point does better.
  EXPECT_NEAR(ds.f_star, 0.5 * 0.01 * (1 - 50.0 / 2000), 0.001);
  const auto x = torch::randn({50}) * 0.01;
  const double f = 0.5 * (ds.train.x.mv(x) - ds.train.y).pow(2).mean().item<double>();
  EXPECT_GT(f, ds.f_star);
  const auto again = make_least_squares(2000, 50, "uniform", 7);
  EXPECT_TRUE(torch::equal(ds.train.x, again.train.x));
  EXPECT_THROW(make_least_squares(10, 5, "weird", 1), esync::ConfigError);
}

std::vector<std::int64_t> some_labels(int n, int classes) {
  std::vector<std::int64_t> l(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) l[static_cast<std::size_t>(i)] = i % classes;
  return l;
}

void expect_exact_cover(const Shards& s, std::int64_t n) {
  std::vector<int> seen(static_cast<std::size_t>(n), 0);
  for (const auto& shard : s)
    for (auto i : shard) ++seen[static_cast<std::size_t>(i)];
  for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[static_cast<std::size_t>(i)], 1) << "index " << i;
}

TEST(Partition, IidCoversOnceAndBalances) {
  const auto s = partition({}, 1003, 4, "iid", 0, 1);
  expect_exact_cover(s, 1003);
  for (const auto& shard : s) EXPECT_NEAR(double(shard.size()), 1003 / 4.0, 1.0);
  EXPECT_EQ(s, partition({}, 1003, 4, "iid", 0, 1));
  EXPECT_NE(s, partition({}, 1003, 4, "iid", 0, 2));
}

TEST(Partition, ByClassGivesDisjointClassBlocks) {
  const auto labels = some_labels(1000, 10);
  const auto s = partition(labels, 1000, 2, "by-class", 0, 3);
  expect_exact_cover(s, 1000);
  for (int w = 0; w < 2; ++w) {
    std::set<std::int64_t> cls;
    for (auto i : s[static_cast<std::size_t>(w)]) cls.insert(labels[static_cast<std::size_t>(i)]);
    EXPECT_EQ(cls.size(), 5u);
    EXPECT_EQ(*cls.begin(), w * 5);  // worker 0: classes 0-4, worker 1: 5-9 (seed 004)
  }
  const auto many = partition(labels, 1000, 13, "by-class", 0, 3);  // more workers than classes
  expect_exact_cover(many, 1000);
  for (const auto& shard : many) EXPECT_FALSE(shard.empty());
}

TEST(Partition, DirichletSkewsWithSmallAlpha) {
  const auto labels = some_labels(5000, 10);
  const auto s = partition(labels, 5000, 4, "dirichlet", 0.1, 5);
  expect_exact_cover(s, 5000);
  // With alpha = 0.1 most of a class lands on one worker.
  std::vector<std::int64_t> per_worker(4, 0);
  for (int w = 0; w < 4; ++w)
    for (auto i : s[static_cast<std::size_t>(w)])
      per_worker[static_cast<std::size_t>(w)] += labels[static_cast<std::size_t>(i)] == 0;
  EXPECT_GT(*std::max_element(per_worker.begin(), per_worker.end()), 300);
  EXPECT_EQ(s, partition(labels, 5000, 4, "dirichlet", 0.1, 5));
  EXPECT_THROW(partition(labels, 5000, 4, "dirichlet", 0.0, 5), esync::ConfigError);
  EXPECT_THROW(partition(labels, 5000, 4, "bogus", 1.0, 5), esync::ConfigError);
}

}  // namespace

// Every batch is full, an epoch's tail is completed from the next permutation, and over whole
// passes every index of the shard comes up equally often.
TEST(ShardSampler, FullBatchesAcrossEpochsCoverTheShardEvenly) {
  using esync::train::ShardSampler;
  const auto shard = torch::arange(100, 107, torch::kInt64);  // 7 indices
  ShardSampler s(shard, 3, 5);
  std::map<std::int64_t, int> count;
  for (int b = 0; b < 7; ++b) {  // 21 samples = 3 passes
    const auto idx = s.next();
    ASSERT_EQ(idx.size(0), 3);
    for (std::int64_t i = 0; i < 3; ++i) ++count[idx[i].item<std::int64_t>()];
  }
  ASSERT_EQ(count.size(), 7u);
  for (const auto& [k, c] : count) {
    EXPECT_GE(k, 100);
    EXPECT_EQ(c, 3) << "index " << k;
  }
  EXPECT_EQ(s.epoch(), 3);
  ShardSampler big(shard, 10, 5);  // a batch larger than the shard: the shard once
  EXPECT_EQ(big.next().size(0), 7);
}

// A sampler restored from another's epoch() and position() (a checkpoint) yields the very
// batches the original goes on to yield, across epoch boundaries too.
TEST(ShardSampler, RestoredSamplerContinuesTheSameSequence) {
  using esync::train::ShardSampler;
  const auto shard = torch::arange(0, 11, torch::kInt64);
  for (int taken : {0, 1, 3, 4, 9}) {
    ShardSampler a(shard, 4, 17);
    for (int b = 0; b < taken; ++b) a.next();
    ShardSampler b(shard, 4, 17);
    b.restore(a.epoch(), a.position());
    for (int i = 0; i < 8; ++i)
      ASSERT_TRUE(torch::equal(a.next(), b.next())) << "after " << taken << " batches, batch " << i;
  }
}
