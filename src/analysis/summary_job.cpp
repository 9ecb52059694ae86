// Job-level parts of a run's summary: accuracy curve and time to target, parameter-server
// shards, speed-up against a baseline run.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>

#include "summary_detail.hpp"

namespace esync::summary_detail {

json whole(double v) {
  return std::floor(v) == v && std::abs(v) < 9e15 ? json(static_cast<std::int64_t>(v)) : json(v);
}

json time_split(double compute, double comm, double wait, double injected, double delay, double hidden) {
  const double total = compute + comm + wait + injected;
  auto frac = [&](double x) { return total > 0 ? x / total : 0.0; };
  return {{"compute_s", compute},    {"comm_s", comm},          {"wait_s", wait},
          {"injected_s", injected},  {"total_s", total},        {"compute_frac", frac(compute)},
          {"comm_frac", frac(comm)}, {"wait_frac", frac(wait)}, {"injected_frac", frac(injected)},
          {"delay_s", delay},        {"hidden_s", hidden}};
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

namespace {

json number_or_null(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

json accuracy(const RunLogs& run, const std::vector<double>& targets, const std::vector<double>& loss_targets,
              std::vector<std::string>& warnings) {
  // Rank 0 evaluates, but any worker's evaluations count: the metric does not depend on who
  // logged it. wall_s (rank 0's training clock) is the time axis, not the event's t, which is
  // when the background evaluator got round to the snapshot.
  std::vector<Line<logev::Eval>> evals;
  for (const auto& [rank, log] : run.workers)
    for (auto& e : log.all<logev::Eval>()) evals.push_back(std::move(e));
  std::stable_sort(evals.begin(), evals.end(),
                   [](const auto& a, const auto& b) { return a.wall_s < b.wall_s; });
  // Classification logs acc; least squares has none and logs rel_gap (1 at the start, -> 0).
  using Metric = std::optional<double> logev::Eval::*;
  Metric metric = nullptr;
  const char* name = nullptr;
  if (std::any_of(evals.begin(), evals.end(), [](const auto& e) { return e.acc.has_value(); }))
    metric = &logev::Eval::acc, name = "acc";
  else if (std::any_of(evals.begin(), evals.end(), [](const auto& e) { return e.rel_gap.has_value(); }))
    metric = &logev::Eval::rel_gap, name = "rel_gap";
  json out = {{"metric", name ? json(name) : json(nullptr)},
              {"curve", json::array()},
              {"final", nullptr},
              {"time_to_target", json::array()}};
  if (!metric) {
    warnings.push_back("no eval events with acc or rel_gap (rank 0's log cut short, or evaluation off?)");
    return out;
  }
  std::erase_if(evals, [&](const auto& e) { return !(e.*metric); });
  for (const auto& e : evals) out["curve"].push_back({e.wall_s, whole(e.samples_seen), *(e.*metric)});
  const auto& f = evals.back();
  out["final"] = {{"value", *(f.*metric)}, {"loss", f.loss},
                  {"wall_s", f.wall_s},    {"samples_seen", whole(f.samples_seen)},
                  {"epoch", f.epoch},      {"round", f.round}};
  const bool higher_better = metric == &logev::Eval::acc;
  for (const double target : higher_better ? targets : loss_targets) {
    json hit = {{"target", target}, {"wall_s", nullptr}, {"samples_seen", nullptr}, {"round", nullptr}};
    for (const auto& e : evals) {
      const double v = *(e.*metric);
      if (higher_better ? v >= target : v <= target) {
        hit["wall_s"] = e.wall_s;
        hit["samples_seen"] = whole(e.samples_seen);
        hit["round"] = e.round;
        break;
      }
    }
    out["time_to_target"].push_back(hit);
  }
  return out;
}

json servers(const RunLogs& run, double t0, json& lost, std::vector<std::string>& warnings) {
  json out = json::array();
  for (const auto& [shard, log] : run.servers) {
    // "ps" events are cumulative snapshots (every log_every_s and once at the end): the last
    // one holds the totals even when the end event is missing.
    const auto ps = log.last<logev::PsStats>();
    const auto end = log.last<logev::ServerEnd>();
    const logev::PsStats s = ps ? static_cast<const logev::PsStats&>(*ps) : logev::PsStats{};
    std::map<long long, double> hist;  // numeric order: JSON objects sort "10" before "2"
    if (s.staleness_hist.is_object())
      for (const auto& [tau, count] : s.staleness_hist.items())
        if (count.is_number()) hist[std::atoll(tau.c_str())] += count.get<double>();
    json hist_list = json::array();
    for (const auto& [tau, count] : hist) hist_list.push_back({tau, whole(count)});
    const auto lost_events = log.all<logev::ServerLost>();
    for (const auto& e : lost_events)
      lost.push_back(
          {{"source", "server-" + std::to_string(shard)}, {"rank", e.rank}, {"t_rel", e.t.value_or(0) - t0}});
    if (!end) warnings.push_back(log.name + ": no end event (process killed?), used its last ps event");
    if (!ps) warnings.push_back(log.name + ": no ps event");
    out.push_back({{"shard", shard},
                   {"status", end ? (end->status.empty() ? "?" : end->status) : "no_end"},
                   {"version", end ? end->version : s.version},
                   {"pushes", end ? end->pushes : s.pushes},
                   {"pulls", s.pulls},
                   {"samples", whole(s.samples)},
                   {"bytes_in", s.bytes_in},
                   {"bytes_out", s.bytes_out},
                   {"lost", lost_events.size()},
                   {"staleness_mean", s.staleness_mean},
                   {"staleness_max", s.staleness_max},
                   {"staleness_hist", hist_list}});
  }
  return out;
}

json speedup(const json& run, const json& base) {
  auto at = [](const json& j, const char* a, const char* b) -> std::optional<double> {
    const auto it = j.find(a);
    return it != j.end() && it->is_object() ? opt_num(*it, b) : std::nullopt;
  };
  // Ratios only between positive numbers: a target reached at wall_s 0 (the untrained model
  // already meets it) says nothing about speed.
  auto ratio = [](std::optional<double> a, std::optional<double> b) {
    return a && b && *a > 0 && *b > 0 ? json(*a / *b) : json(nullptr);
  };
  json out = {{"baseline", str(base, "label")},
              {"baseline_mode", str(base, "mode")},
              {"throughput_ratio", ratio(at(run, "job", "samples_per_s"), at(base, "job", "samples_per_s"))},
              {"time_to_target", json::array()}};
  const json& acc = run.at("accuracy");
  // The baseline was read back from a file: take only what has the expected shape.
  const auto ba = base.find("accuracy");
  const json base_acc = ba != base.end() && ba->is_object() ? *ba : json::object();
  const auto bt = base_acc.find("time_to_target");
  const json base_hits = bt != base_acc.end() && bt->is_array() ? *bt : json::array();
  const bool same_metric = base_acc.value("metric", json()) == acc.at("metric");
  for (const auto& hit : acc.at("time_to_target")) {
    std::optional<double> mine = opt_num(hit, "wall_s"), theirs;
    for (const auto& b : base_hits)
      if (same_metric && std::abs(num(b, "target", -1) - num(hit, "target")) < 1e-12)
        theirs = opt_num(b, "wall_s");
    out["time_to_target"].push_back({{"target", hit.at("target")},
                                     {"time_s", number_or_null(mine)},
                                     {"baseline_time_s", number_or_null(theirs)},
                                     {"time_ratio", ratio(mine, theirs)},
                                     {"speedup", ratio(theirs, mine)}});
  }
  return out;
}

}  // namespace esync::summary_detail
