// JobWatch (job_watch.hpp): tails the job's logs and folds them into one status line.
#include "cli/job_watch.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "esync/clock.hpp"
#include "esync/progress.hpp"

namespace esync::cli {

namespace fs = std::filesystem;

JobWatch::JobWatch(fs::path log_dir, const JobConfig& job)
    : dir_(std::move(log_dir)),
      epochs_(job.epochs),
      budget_s_(job.time_budget_s),
      workers_(job.capacity(job.workers())),
      t0_(mono_s()) {}

void JobWatch::read(const std::string& file) {
  const fs::path path = dir_ / file;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  auto& at = offset_[file];
  if (!ec && size < at) {  // a new file in its place (a restarted worker truncates its log)
    at = 0;
    partial_[file].clear();
  }
  if (ec || size <= at) return;
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(at));
  std::string chunk(size - at, '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<std::size_t>(in.gcount()));
  at += chunk.size();
  std::string& rest = partial_[file];
  rest += chunk;
  std::size_t begin = 0;
  for (std::size_t nl; (nl = rest.find('\n', begin)) != std::string::npos; begin = nl + 1)
    take(file, rest.substr(begin, nl - begin));
  rest.erase(0, begin);
}

void JobWatch::take(const std::string& file, const std::string& line) {
  // Only the few events the line shows; the rest are skipped unparsed.
  const bool step = line.find("\"ev\":\"step\"") != std::string::npos,
             eval = line.find("\"ev\":\"eval\"") != std::string::npos,
             assign = line.find("\"ev\":\"assign\"") != std::string::npos;
  if (!step && !eval && !assign) return;
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return;
  if (step && file.rfind("worker-", 0) == 0) {
    samples_[std::atoi(file.c_str() + 7)] = j.value("samples", 0.0);
  } else if (eval && j.contains("acc")) {
    // Evaluations may come late (an idle-priority thread) and from a new evaluator after a loss:
    // the most advanced one holds.
    if (j.value("samples_seen", 0.0) >= seen_at_epoch_) {
      acc_ = j.value("acc", -1.0), epoch_ = j.value("epoch", 0.0),
      seen_at_epoch_ = j.value("samples_seen", 0.0);
    }
  } else if (assign) {
    k_[j.value("rank", -1)] = j.value("k", 0);
  }
}

std::string JobWatch::status() {
  for (int r = 0; r < workers_; ++r) read("worker-" + std::to_string(r) + ".jsonl");
  read("coordinator-0.jsonl");
  const double now = mono_s(), elapsed = now - t0_;
  double samples = 0;
  for (const auto& [rank, s] : samples_) samples += s;
  history_.emplace_back(now, samples);
  while (history_.size() > 2 && now - history_.front().first > 10) history_.pop_front();
  const double span = history_.back().first - history_.front().first;
  const double rate = span > 0 ? (history_.back().second - history_.front().second) / span : 0;

  // How far the job is: the time budget's share, or the epochs' (an epoch's samples known from
  // the first evaluation after the start: samples seen / epoch).
  double frac = -1, eta = -1;
  std::string where;
  char buf[96];
  if (epochs_ > 0 && epoch_ > 0) {
    const double per_epoch = seen_at_epoch_ / epoch_, target = epochs_ * per_epoch;
    frac = std::min(1.0, samples / target);
    std::snprintf(buf, sizeof buf, "epoch %.2f/%g", samples / per_epoch, epochs_);
    where = buf;
    if (rate > 0) eta = std::max(0.0, target - samples) / rate;
  }
  if (budget_s_ > 0 && (frac < 0 || elapsed / budget_s_ > frac)) {
    frac = std::min(1.0, elapsed / budget_s_);
    std::snprintf(buf, sizeof buf, "%.0f/%g s", elapsed, budget_s_);
    where = buf;
    eta = std::max(0.0, budget_s_ - elapsed);
  }
  std::string out = where.empty() ? "starting" : where;
  if (frac >= 0) out += " " + Progress::bar(frac, 20);
  std::snprintf(buf, sizeof buf, " | %.0f samples/s", rate);
  out += buf;
  if (eta >= 0) out += " | ETA " + Progress::format_duration(eta);
  if (acc_ >= 0) {
    std::snprintf(buf, sizeof buf, " | acc %.4f", acc_);
    out += buf;
  }
  if (!k_.empty()) {
    out += " | K ";
    for (int r = 0; r < workers_; ++r) {
      const auto it = k_.find(r);
      out += (r ? "," : "") + (it == k_.end() ? std::string("-") : std::to_string(it->second));
    }
  }
  return out;
}

}  // namespace esync::cli
