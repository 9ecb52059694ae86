// The summariser's per-worker numbers and the document (layout in esync/summary.hpp).
#include "esync/summary.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "esync/error.hpp"
#include "summary_detail.hpp"

namespace esync {
namespace {

using namespace summary_detail;

// Unix time at which this worker's training loop started, the origin of its wall_s and of rank
// 0's evaluations. The end event is written right after wall_s was measured, so end.t - wall_s
// is exact; without it, the first round started its own length before its sync event.
std::optional<double> train_start(const LogFile& log) {
  if (const auto end = log.last<logev::WorkerEnd>(); end && end->status == "ok" && end->summary && end->t)
    return *end->t - end->summary->wall_s;
  if (const auto s = log.first<logev::Sync>(); s && s->t)
    return *s->t - (s->compute_s + s->injected_s + s->comm_s + s->wait_s);
  return std::nullopt;
}

json worker_summary(int rank, const LogFile& log, const RunLogs& run, double t0,
                    std::optional<double> start_t, const SummaryOptions& opt,
                    std::vector<std::string>& warnings) {
  const auto start = log.first<logev::WorkerStart>();
  const auto end = log.last<logev::WorkerEnd>();
  const auto syncs = log.all<logev::Sync>();
  // Device and host from the worker itself, else from its registration at the state server.
  std::string device = start ? start->device : "", host = start ? start->host : "";
  if (!start && run.coordinator)
    for (const auto& e : run.coordinator->all<logev::Register>())
      if (e.rank == rank) device = e.device.value_or(""), host = e.host;
  if (device.empty()) device = "?";
  if (host.empty()) host = "?";

  double compute = 0, comm = 0, wait = 0, injected = 0, delay = 0, hidden = 0, bytes_sent = 0, bytes_recv = 0,
         samples = 0, steps = 0;
  std::vector<double> stale, k_assigned;
  std::map<long long, long long> hist;
  json per_round = json::array();
  for (const auto& s : syncs) {
    compute += s.compute_s, comm += s.comm_s, wait += s.wait_s;
    injected += s.injected_s, delay += s.delay_s, hidden += s.hidden_s;
    bytes_sent += double(s.bytes_sent), bytes_recv += double(s.bytes_recv);
    samples += s.samples, steps += double(s.k_done);
    if (s.staleness) {
      stale.push_back(double(*s.staleness));
      ++hist[*s.staleness];
    }
    k_assigned.push_back(double(s.k_assigned));
    per_round.push_back({s.round, s.k_assigned, s.k_done});
  }

  const bool ok = end && end->status == "ok";
  json w = {{"rank", rank},
            {"device", device},
            {"host", host},
            {"batch", start && start->batch > 0 ? json(start->batch) : json(nullptr)},
            {"status", end ? (ok ? "ok" : "error") : "no_end"},
            {"error", end && !ok ? json(end->error) : json(nullptr)},
            {"rounds", syncs.size()}};
  if (ok && end->summary && end->summary->samples_per_s) {
    const auto& sum = *end->summary;
    w["steps"] = sum.steps, w["samples"] = sum.samples;
    w["train_wall_s"] = sum.train_wall_s.value_or(sum.wall_s);
    w["samples_per_s"] = *sum.samples_per_s;
    w["throughput_source"] = "end";
  } else {
    // Killed or failed: what the sync events say, over the span they cover.
    const double span = !syncs.empty() && start_t ? syncs.back().t.value_or(0) - *start_t : 0.0;
    w["steps"] = whole(steps), w["samples"] = whole(samples);
    w["train_wall_s"] = span > 0 ? json(span) : json(nullptr);
    w["samples_per_s"] = span > 0 ? json(samples / span) : json(nullptr);
    w["throughput_source"] = "sync_events";
    const std::string used = ", used " + std::to_string(syncs.size()) + " sync events";
    if (!end)
      warnings.push_back(log.name + ": no end event (process killed?)" + used);
    else
      warnings.push_back(log.name + ": ended with " + (end->status.empty() ? "?" : end->status) + " (" +
                         end->error + ")" + used);
  }
  if (!start) warnings.push_back(log.name + ": no start event");
  if (syncs.empty()) warnings.push_back(log.name + ": no sync events");
  // The end summary carries no bytes_recv, and the sync events sum to its other totals in the
  // same order: one source for all of them.
  w["bytes_sent"] = whole(bytes_sent), w["bytes_recv"] = whole(bytes_recv);
  w["time_split"] = time_split(compute, comm, wait, injected, delay, hidden);

  json hist_list = json::array();
  for (const auto& [tau, count] : hist) hist_list.push_back({tau, count});
  double stale_sum = 0;
  for (const double tau : stale) stale_sum += tau;
  w["staleness"] = {{"count", stale.size()},
                    {"mean", stale.empty() ? 0.0 : stale_sum / double(stale.size())},
                    {"median", median(stale)},
                    {"max", whole(stale.empty() ? 0.0 : *std::max_element(stale.begin(), stale.end()))},
                    {"hist", hist_list}};

  json coord_k = json::array();
  if (run.coordinator)
    for (const auto& e : run.coordinator->all<logev::Assign>())
      if (e.rank == rank) coord_k.push_back({e.round, e.k, e.step_s ? json(*e.step_s) : json()});
  double k_sum = 0;
  for (const double k : k_assigned) k_sum += k;
  const double k_mean = k_assigned.empty() ? 0.0 : k_sum / double(k_assigned.size());
  w["k"] = {{"per_round", per_round},
            {"assigned_mean", k_mean},
            {"assigned_median", median(k_assigned)},
            {"coordinator", coord_k}};

  // Heat-map rows: bucket consecutive syncs so a long run stays at most max_timeline_points.
  const std::size_t cap = std::max<std::size_t>(opt.max_timeline_points, 1);
  const std::size_t stride = std::max<std::size_t>(1, (syncs.size() + cap - 1) / cap);
  json points = json::array();
  for (std::size_t i = 0; i < syncs.size(); i += stride) {
    double c = 0, b = 0;
    const std::size_t stop = std::min(syncs.size(), i + stride);
    for (std::size_t j = i; j < stop; ++j)
      c += syncs[j].comm_s, b += double(syncs[j].bytes_sent + syncs[j].bytes_recv);
    points.push_back({syncs[stop - 1].t.value_or(0) - t0, c, whole(b)});
  }
  w["timeline"] = {{"fields", {"t_rel_s", "comm_s", "bytes"}}, {"stride", stride}, {"points", points}};
  return w;
}

json run_summary(const std::string& dir, const SummaryOptions& opt) {
  const RunLogs run = read_run(dir);
  std::vector<std::string> warnings;
  for (const auto& [rank, log] : run.workers)
    warnings.insert(warnings.end(), log.warnings.begin(), log.warnings.end());
  for (const auto& [shard, log] : run.servers)
    warnings.insert(warnings.end(), log.warnings.begin(), log.warnings.end());
  if (run.coordinator) {
    warnings.insert(warnings.end(), run.coordinator->warnings.begin(), run.coordinator->warnings.end());
    if (!run.coordinator->last<logev::CoordinatorEnd>())
      warnings.push_back(run.coordinator->name + ": no end event (process killed?)");
  }

  // One time origin for the run: rank 0's training start, which is what its evaluations'
  // wall_s count from, so the communication timeline and the accuracy curve share an axis.
  std::map<int, std::optional<double>> starts;
  for (const auto& [rank, log] : run.workers) starts[rank] = train_start(log);
  double t0 = 0;
  bool have_t0 = false;
  if (const auto it = starts.find(0); it != starts.end() && it->second) {
    t0 = *it->second, have_t0 = true;
  } else {  // rank 0's log is missing or empty: the earliest start is the next best origin
    for (const auto& [rank, t] : starts) {
      if (!t) continue;
      t0 = have_t0 ? std::min(t0, *t) : *t;
      have_t0 = true;
    }
  }
  if (!have_t0) warnings.push_back("no sync or end event in any worker log: t_rel counts from 0 (unix time)");

  // The first worker start event: the job's mode and configuration.
  std::optional<Line<logev::WorkerStart>> start;
  for (const auto& [rank, log] : run.workers)
    if (!start) start = log.first<logev::WorkerStart>();
  const auto cstart = run.coordinator ? run.coordinator->first<logev::CoordinatorStart>() : std::nullopt;
  json config = start && !start->config.is_null()  ? start->config
                : cstart && !cstart->job.is_null() ? cstart->job
                                                   : json(nullptr);
  std::string mode = start ? start->mode : "";
  if (mode.empty()) mode = str(config, "mode", "?");
  const int world = start ? start->world : 0;
  if (world > static_cast<int>(run.workers.size()))
    warnings.push_back("expected " + std::to_string(world) + " worker logs (world), found " +
                       std::to_string(run.workers.size()));

  json workers = json::array();
  double samples = 0, rate = 0, wall = 0, sent = 0, recv = 0, c = 0, m = 0, w = 0, inj = 0, del = 0, hid = 0;
  for (const auto& [rank, log] : run.workers) {
    json ws = worker_summary(rank, log, run, t0, starts[rank], opt, warnings);
    samples += ws["samples"].get<double>(), sent += ws["bytes_sent"].get<double>();
    recv += ws["bytes_recv"].get<double>();
    if (ws["samples_per_s"].is_number()) rate += ws["samples_per_s"].get<double>();
    if (ws["train_wall_s"].is_number()) wall = std::max(wall, ws["train_wall_s"].get<double>());
    const json& ts = ws["time_split"];
    c += num(ts, "compute_s"), m += num(ts, "comm_s"), w += num(ts, "wait_s"), inj += num(ts, "injected_s");
    del += num(ts, "delay_s"), hid += num(ts, "hidden_s");
    workers.push_back(std::move(ws));
  }
  json lost = json::array();
  if (run.coordinator)
    for (const auto& e : run.coordinator->all<logev::CoordinatorLost>())
      lost.push_back({{"source", "coordinator"}, {"rank", e.rank}, {"t_rel", e.t.value_or(0) - t0}});
  if (run.launcher)
    for (const auto& e : run.launcher->all<logev::LauncherLost>())
      lost.push_back({{"source", "launcher"},
                      {"rank", e.rank},
                      {"t_rel", e.t.value_or(0) - t0},
                      {"why", e.why},
                      {"last_round", e.last_round}});
  json shards = servers(run, t0, lost, warnings);
  json acc = accuracy(run, opt.targets, opt.loss_targets, warnings);

  json out = {{"label", run.label},
              {"dir", run.dir},
              {"mode", mode},
              {"config", config},
              {"t0_unix", have_t0 ? json(t0) : json(nullptr)},
              {"world", world},
              {"workers", workers}};
  out["job"] = {{"workers", run.workers.size()},
                {"samples", whole(samples)},
                {"samples_per_s", rate},
                {"train_wall_s", wall},
                {"bytes_sent", whole(sent)},
                {"bytes_recv", whole(recv)},
                {"time_split", time_split(c, m, w, inj, del, hid)},
                {"lost", lost}};
  out["accuracy"] = std::move(acc);
  out["servers"] = std::move(shards);
  out["warnings"] = warnings;
  return out;
}

}  // namespace

json summarize(const std::vector<std::string>& log_dirs, const SummaryOptions& opt) {
  ESYNC_CHECK_T(ConfigError, !log_dirs.empty(), "summarize: no log directory given");
  json base;  // null: no baseline
  if (opt.baseline) {
    const json& b = *opt.baseline;
    ESYNC_CHECK_T(ConfigError, str(b, "schema") == kSummarySchema, "baseline is not an ", kSummarySchema,
                  " document");
    if (const auto runs = b.find("runs"); runs != b.end() && runs->is_array())
      for (const auto& r : *runs)
        if (base.is_null() && r.is_object() &&
            (opt.baseline_run.empty() || str(r, "label") == opt.baseline_run))
          base = r;
    ESYNC_CHECK_T(ConfigError, !base.is_null(), "baseline has no run ",
                  opt.baseline_run.empty() ? std::string("at all") : "labelled " + opt.baseline_run);
  }
  json out = {{"schema", kSummarySchema},         {"label", opt.label},    {"targets", opt.targets},
              {"loss_targets", opt.loss_targets}, {"runs", json::array()}, {"warnings", json::array()}};
  for (const auto& dir : log_dirs) {
    json run = run_summary(dir, opt);
    if (!base.is_null()) run["speedup"] = speedup(run, base);
    for (const auto& wmsg : run["warnings"])
      out["warnings"].push_back(run["label"].get<std::string>() + "/" + wmsg.get<std::string>());
    out["runs"].push_back(std::move(run));
  }
  return out;
}

}  // namespace esync
