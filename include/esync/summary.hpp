#pragma once
// The log summariser: reads the JSONL logs of one or more job directories
// (worker-R.jsonl, optionally coordinator-0.jsonl and server-I.jsonl) and produces one JSON
// document, schema "esync.summary/1", for tables, figures and comparisons between runs.
//
// Document layout (times in seconds, byte counts as logged):
//   schema, label, targets, loss_targets, warnings[]        (warnings: "<run>/<file>: what")
//   runs[]: label (directory name), dir, mode, config (the job configuration rank 0 logged),
//     t0_unix (origin of every t_rel and of the accuracy curve's wall_s: rank 0's training start),
//     world, warnings[] ("<file>: what"),
//     workers[]: rank, device, host, batch (its own per-step batch; null when its start event has none),
//     status
//       ("ok" | "error" | "no_end"), error, rounds (sync
//       events), steps, samples, train_wall_s, samples_per_s, throughput_source ("end" |
//       "sync_events"), bytes_sent, bytes_recv,
//       time_split {compute_s, comm_s, wait_s, injected_s, total_s, compute_frac, comm_frac,
//         wait_frac, injected_frac}  (fractions of total_s = the sum of the four; they sum to 1),
//         delay_s (the --delay part of injected_s), hidden_s (--overlap: reduction time that
//         ran behind the steps, not in total_s),
//       staleness {count, mean, median, max, hist: [[tau, count], ...]},
//       k {per_round: [[round, k_assigned, k_done], ...], assigned_mean, assigned_median,
//          coordinator: [[round, k, step_s|null], ...]},
//       timeline {fields: ["t_rel_s", "comm_s", "bytes"], stride, points: [[t, c, b], ...]}
//         (bytes = sent + received; with stride s > 1 each point sums s consecutive syncs and
//          carries the last one's time, so totals are kept),
//     job: workers, samples, samples_per_s (sum over workers), train_wall_s (max), bytes_sent,
//       bytes_recv, time_split (sums over workers, same fields), lost [{source, rank, t_rel} (launcher: +
//       why, last_round)],
//     accuracy: metric ("acc" | "rel_gap" | null), curve [[wall_s, samples_seen, value], ...],
//       final {value, loss, wall_s, samples_seen, epoch, round} | null,
//       time_to_target [{target, wall_s, samples_seen, round}] (wall_s null: never reached),
//     servers[]: shard, status, version, pushes, pulls, samples, bytes_in, bytes_out, lost,
//       staleness_mean, staleness_max, staleness_hist [[tau, count], ...],
//     speedup (with a baseline): baseline, baseline_mode, throughput_ratio (this / baseline),
//       time_to_target [{target, time_s, baseline_time_s, time_ratio (this / baseline),
//                        speedup (baseline / this)}]   (null where either side is missing).
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace esync {

inline constexpr const char* kSummarySchema = "esync.summary/1";

struct SummaryOptions {
  // Classification: time to the first evaluation with acc >= target.
  std::vector<double> targets{0.80, 0.85, 0.90};
  // Least squares (no acc, a rel_gap): time to the first evaluation with rel_gap <= target.
  std::vector<double> loss_targets{0.1, 0.01, 0.001};
  // Another esync.summary/1 document: each run gets a "speedup" against one of its runs.
  std::optional<nlohmann::json> baseline;
  std::string baseline_run;  // the baseline run's label; empty: its first run
  std::string label;         // the document's label (free text)
  std::size_t max_timeline_points = 500;
};

// IoError when a directory is missing, holds no worker-*.jsonl, or a file cannot be read;
// ConfigError when the baseline is not a summary. A log cut short is not an error: the summary
// uses what is there and says what was missing in "warnings".
nlohmann::json summarize(const std::vector<std::string>& log_dirs, const SummaryOptions& opt = {});

}  // namespace esync
