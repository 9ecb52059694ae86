#include "esync/job_checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <utility>
#include <vector>

#include "esync/error.hpp"
#include "esync/job_config.hpp"

namespace esync::ckpt {

namespace fs = std::filesystem;

std::string round_dir(const std::string& dir, std::uint64_t round) {
  char name[40];
  std::snprintf(name, sizeof name, "round-%08llu", static_cast<unsigned long long>(round));
  return (fs::path(dir) / name).string();
}

std::string worker_file(const std::string& dir, std::uint64_t round, int rank) {
  return (fs::path(round_dir(dir, round)) / ("worker-" + std::to_string(rank) + ".ckpt")).string();
}

std::string server_file(const std::string& dir, std::uint64_t round, int shard) {
  return (fs::path(round_dir(dir, round)) / ("server-" + std::to_string(shard) + ".ckpt")).string();
}

namespace {
// round-00000120 -> 120; nullopt for anything else in the directory.
std::optional<std::uint64_t> round_of(const fs::path& p) {
  const std::string name = p.filename().string();
  if (name.rfind("round-", 0) != 0 || name.size() == 6) return std::nullopt;
  const std::string digits = name.substr(6);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 18) return std::nullopt;
  return std::stoull(digits);
}
}  // namespace

std::optional<std::uint64_t> latest_complete(const std::string& dir, int workers, int shards) {
  std::error_code ec;
  ESYNC_CHECK_T(IoError, fs::is_directory(dir, ec), dir, ": no such checkpoint directory");
  std::set<std::uint64_t> rounds;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (const auto r = round_of(e.path()); r && e.is_directory()) rounds.insert(*r);
  const auto has = [&](std::uint64_t r, int ranks) {
    for (int s = 0; s < shards; ++s)
      if (!fs::exists(server_file(dir, r, s))) return false;
    for (int w = 0; w < ranks; ++w)
      if (!fs::exists(worker_file(dir, r, w))) return false;
    return true;
  };
  for (const int ranks : {std::max(workers, 1), 1})
    for (auto it = rounds.rbegin(); it != rounds.rend(); ++it)
      if (has(*it, ranks)) return *it;
  return std::nullopt;
}

void check_same_job(const nlohmann::json& was_in, const nlohmann::json& now_in, const std::string& where) {
  // May differ between the run that wrote a checkpoint and the one that resumes it.
  static const std::set<std::string> run_time = {"epochs",
                                                 "time_budget_s",
                                                 "log_dir",
                                                 "eval_every_s",
                                                 "threads",
                                                 "heartbeat_timeout_s",
                                                 "heartbeat_interval_s",
                                                 "on_failure",
                                                 "checkpoint_every",
                                                 "checkpoint_dir",
                                                 "resume",
                                                 "data_dir",
                                                 "devices",
                                                 "backend",
                                                 "slowdown",
                                                 "slowdown_basis",
                                                 "overlap",
                                                 "delay",
                                                 "slow_worker",
                                                 "max_workers",
                                                 "log_every",
                                                 "policy",
                                                 "k_base",
                                                 "k_max"};
  // Both through JobConfig, so a key one side lacks compares as its default.
  const nlohmann::json was = nlohmann::json(was_in.get<JobConfig>()),
                       now = nlohmann::json(now_in.get<JobConfig>());
  std::set<std::string> keys;
  for (const auto& [k, v] : was.items()) keys.insert(k);
  for (const auto& [k, v] : now.items()) keys.insert(k);
  // Another mode is named first: every setting after it may differ for that reason alone.
  std::vector<std::string> order = {"mode"};
  for (const auto& k : keys)
    if (k != "mode") order.push_back(k);
  for (const auto& k : order) {
    if (run_time.count(k)) continue;
    const auto a = was.value(k, nlohmann::json()), b = now.value(k, nlohmann::json());
    // 0.02 written as a double and read back may differ in its last bit from a float flag.
    if (a.is_number() && b.is_number() &&
        std::abs(a.get<double>() - b.get<double>()) <= 1e-9 * std::abs(a.get<double>()))
      continue;
    ESYNC_CHECK_T(ConfigError, a == b, where, ": the checkpoint was written by a job with ", k, "=", a.dump(),
                  " but this job has ", k, "=", b.dump());
  }
  const auto count = [](const nlohmann::json& j) {
    return j.value("devices", nlohmann::json::array()).size();
  };
  ESYNC_CHECK_T(ConfigError, count(was) == count(now), where, ": the checkpoint was written by a job of ",
                count(was), " workers but this job has ", count(now));
}

BackgroundWriter::~BackgroundWriter() {
  if (t_.joinable()) t_.join();
}

void BackgroundWriter::finish() {
  if (t_.joinable()) t_.join();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void BackgroundWriter::submit(std::string dir, std::uint64_t round, Checkpoint ck) {
  finish();
  t_ = std::thread([this, dir = std::move(dir), round, ck = std::move(ck)] {
    try {
      write(dir, round, ck);
    } catch (...) {
      error_ = std::current_exception();
    }
  });
}

void BackgroundWriter::write(const std::string& dir, std::uint64_t round, const Checkpoint& ck) {
  ck.save((fs::path(round_dir(dir, round)) / name_).string());
  // Keep this checkpoint and the one before it: if the job dies while others still write this
  // round, the previous round is complete everywhere.
  if (previous_) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const auto r = round_of(e.path());
      if (!r || *r >= *previous_) continue;
      fs::remove(e.path() / name_, ec);
      fs::remove(e.path(), ec);  // only once empty: the other writers' files stay
    }
  }
  previous_ = round;
}

}  // namespace esync::ckpt
