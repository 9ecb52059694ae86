#include "train/data/partition.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <random>

#include "esync/error.hpp"

namespace esync::train {
namespace {

// Splits idx into shards at the cumulative proportions p (sum 1), appending to out[w].
void split_by_proportions(const std::vector<std::int64_t>& idx, const std::vector<double>& p,
                          const std::vector<int>& owners, Shards& out) {
  double cum = 0;
  std::size_t begin = 0;
  for (std::size_t j = 0; j < owners.size(); ++j) {
    cum += p[j];
    const std::size_t end =
        j + 1 == owners.size()
            ? idx.size()
            : std::min(idx.size(), static_cast<std::size_t>(cum * double(idx.size()) + 0.5));
    auto& shard = out[static_cast<std::size_t>(owners[j])];
    shard.insert(shard.end(), idx.begin() + static_cast<std::ptrdiff_t>(begin),
                 idx.begin() + static_cast<std::ptrdiff_t>(std::max(begin, end)));
    begin = std::max(begin, end);
  }
}

std::map<std::int64_t, std::vector<std::int64_t>> indices_by_class(const std::vector<std::int64_t>& labels) {
  std::map<std::int64_t, std::vector<std::int64_t>> by;
  for (std::size_t i = 0; i < labels.size(); ++i) by[labels[i]].push_back(static_cast<std::int64_t>(i));
  return by;
}

}  // namespace

Shards partition(const std::vector<std::int64_t>& labels, std::int64_t num_samples, int workers,
                 const std::string& kind, double alpha, std::uint64_t seed) {
  ESYNC_CHECK_T(ConfigError, workers >= 1, "partition needs at least one worker");
  std::mt19937_64 rng(seed);
  Shards out(static_cast<std::size_t>(workers));
  std::vector<int> all_workers(static_cast<std::size_t>(workers));
  std::iota(all_workers.begin(), all_workers.end(), 0);

  if (kind == "iid") {
    std::vector<std::int64_t> idx(static_cast<std::size_t>(num_samples));
    std::iota(idx.begin(), idx.end(), 0);
    std::shuffle(idx.begin(), idx.end(), rng);
    split_by_proportions(idx, std::vector<double>(all_workers.size(), 1.0 / workers), all_workers, out);
    return out;
  }
  ESYNC_CHECK_T(ConfigError, static_cast<std::int64_t>(labels.size()) == num_samples, "partition '", kind,
                "' needs class labels (not available for this dataset)");
  auto by = indices_by_class(labels);
  const int classes = static_cast<int>(by.size());

  if (kind == "by-class") {
    int c = 0;
    for (auto& [label, idx] : by) {
      std::shuffle(idx.begin(), idx.end(), rng);
      // Owners of class c: with M <= C the contiguous block containing c; else every w = c mod C.
      std::vector<int> owners;
      for (int w = 0; w < workers; ++w) {
        const bool owns = workers <= classes ? (c * workers / classes == w) : (w % classes == c);
        if (owns) owners.push_back(w);
      }
      split_by_proportions(idx, std::vector<double>(owners.size(), 1.0 / double(owners.size())), owners, out);
      ++c;
    }
    return out;
  }
  if (kind == "dirichlet") {
    ESYNC_CHECK_T(ConfigError, alpha > 0, "--dirichlet-alpha must be > 0, got ", alpha);
    std::gamma_distribution<double> gamma(alpha, 1.0);
    for (auto& [label, idx] : by) {
      std::shuffle(idx.begin(), idx.end(), rng);
      std::vector<double> p(static_cast<std::size_t>(workers));
      double sum = 0;
      for (auto& v : p) sum += (v = gamma(rng));
      for (auto& v : p) v = sum > 0 ? v / sum : 1.0 / workers;
      split_by_proportions(idx, p, all_workers, out);
    }
    return out;
  }
  ESYNC_THROW(ConfigError, "unknown partition '", kind, "' (expected iid, by-class or dirichlet)");
}

}  // namespace esync::train
