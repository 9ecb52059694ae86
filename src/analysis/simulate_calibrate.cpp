// Calibration of the performance model from an esync.summary/1 document (one of its runs), and
// the model's two cost formulas.
// Choices, each also written to Calibration::notes:
//  - Device classes: one per worker of the run, rank order, so a replay with the same M maps
//    worker j to class j. Step time = (compute_s + injected_s) / steps: the emulated slowdown
//    is part of the device's step (a --slowdown 4 worker *is* a device 4x slower), and it is
//    what the state server's c_i measures. With --delay, injected_s also holds the network
//    delay: that part (time_split.delay_s) is left out of the step, and the run's --delay spec
//    becomes sync_delay, a cost of every synchronisation (drawn per worker and sync), so that
//    --overlap can be predicted to hide it. A summary that does not separate it (made before
//    delay_s was logged) is refused: the delay could not be told from the steps.
//  - A run with --overlap is refused: its comm_s and wait_s hold only the time a worker was
//    held up, not what the reduction took. Calibrate from the same job without it.
//  - Step CV. A summary keeps no per-step times, only per-round data:
//    (1) esync with the assign policy: the coordinator's logged per-round EMA c_r of each
//        worker's reported mean step time inverts exactly, x_{r-1} = (c_r − (1−α)c_{r−1}) / α,
//        giving each worker's per-round mean step over k_done steps;
//    (2) otherwise the timeline of the bottleneck worker (least wait): (Δt − comm) / k_done per
//        round, its step time plus a constant overhead; its CV is given to every class (the
//        others' variability is hidden behind the barrier; it matters little while they are
//        not the bottleneck);
//    (3) else opt.default_cv.
//    A mean of k independent steps has variance σ²/k, so σ² = k·Var(x). Var(x) comes from
//    successive differences (von Neumann: E[(x_{j+1} − x_j)²] = 2·Var), which a slow drift
//    (warm-up, an EMA settling) hardly touches, unlike the plain variance. Rounds below
//    opt.skip_rounds are left out. Steps correlated within a round (a contention burst) make σ
//    per step too large, but the simulated round sum then has the variance measured.
//  - Model bytes S: ring allreduce sends 2(M−1)/M·S per worker and sync, so S = sent·M/(2(M−1));
//    over the PS (config servers > 0) a push sends S. Control slots ride along (a few floats).
//  - Network: comm per sync y = Σ comm_s / Σ rounds over workers (comm_s starts at the last
//    arrival: waiting is logged apart), against x = bytes one worker moves on its critical path
//    per sync, with n messages (ring: x = 2(M−1)/M·S, n = 2(M−1); PS: x = 2S/shards, n = 2).
//    With workers of different x (> 20% apart) a least-squares line gives latency and
//    bandwidth; with one size (the usual case) latency = opt.latency_s and B = x / (y − n·a)
//    (if n·a would leave under 10% of y, a = y / 2n). Queueing at a busy PS in the source run
//    lands in B: it is then the bandwidth that run effectively saw.
//  - PS service time: not in a summary (servers[] has counts, not times); taken as streaming
//    3 vectors of S bytes (read w and g, write w) at opt.server_mem_Bps, and subtracted from
//    y for PS runs.
//  - Per-round overhead O: (train_wall_s − the four logged phases) / rounds, mean over workers.
//    An esync run spends it mostly on the state server's round trip (report, then K back), which
//    other modes do not make; one run cannot split the two, so an esync run's O becomes
//    coord_overhead_s (esync only) and round_overhead_s 0, any other run's O round_overhead_s
//    and coord_overhead_s stays 2 latencies (a request and a reply).
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "esync/error.hpp"
#include "esync/modes.hpp"
#include "esync/simulate.hpp"
#include "esync/summary.hpp"

namespace esync::sim {
namespace {

using nlohmann::json;

double num(const json& j, const char* key, double def = 0.0) {
  if (!j.is_object()) return def;
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : def;
}

const json& pick_run(const json& doc, const std::string& label) {
  ESYNC_CHECK_T(ConfigError, doc.is_object() && doc.value("schema", std::string()) == kSummarySchema,
                "calibrate: not an ", kSummarySchema, " document");
  const auto it = doc.find("runs");
  ESYNC_CHECK_T(ConfigError, it != doc.end() && it->is_array() && !it->empty(),
                "calibrate: the summary has no runs");
  std::string labels;
  for (const json& r : *it) {
    if (!r.is_object()) continue;
    if (label.empty() || r.value("label", std::string()) == label) return r;
    labels += (labels.empty() ? "" : ", ") + r.value("label", std::string("?"));
  }
  ESYNC_THROW(ConfigError, "calibrate: no run '", label, "' in the summary (runs: ", labels, ")");
}

// Per-step CV from per-round mean step times x_j, each over k_j steps (see the top).
std::optional<double> cv_of(const std::vector<double>& x, const std::vector<double>& k) {
  if (x.size() < 4) return std::nullopt;
  double mean = 0, s = 0;
  for (double v : x) mean += v / double(x.size());
  for (std::size_t j = 0; j + 1 < x.size(); ++j)
    s += (x[j + 1] - x[j]) * (x[j + 1] - x[j]) * (k[j] + k[j + 1]) / 2;
  if (!(mean > 0)) return std::nullopt;
  return std::clamp(std::sqrt(s / (2.0 * double(x.size() - 1))) / mean, 0.0, 3.0);
}

std::map<long long, double> k_done_by_round(const json& w) {
  std::map<long long, double> out;
  if (w.contains("k") && w["k"].contains("per_round"))
    for (const json& e : w["k"]["per_round"])
      if (e.is_array() && e.size() >= 3 && e[0].is_number_integer() && e[2].is_number())
        out[e[0].get<long long>()] = e[2].get<double>();
  return out;
}

// (1) Inverting the coordinator's EMA.
std::optional<double> cv_from_coordinator(const json& w, const CalibrateOptions& opt) {
  if (!w.contains("k") || !w["k"].contains("coordinator") || !w["k"]["coordinator"].is_array())
    return std::nullopt;
  const json& co = w["k"]["coordinator"];
  auto ok = [](const json& e) {
    return e.is_array() && e.size() >= 3 && e[0].is_number_integer() && e[2].is_number();
  };
  const auto kd = k_done_by_round(w);
  std::vector<double> x, k;
  for (std::size_t j = 1; j < co.size(); ++j) {
    const json &p = co[j - 1], &c = co[j];
    if (!ok(p) || !ok(c)) continue;
    const long long r = c[0].get<long long>() - 1;  // the round the report describes
    const double cp = p[2].get<double>(), cc = c[2].get<double>();
    const auto it = kd.find(r);
    if (p[0].get<long long>() != r || cp <= 0 || cc <= 0 || r < opt.skip_rounds || it == kd.end() ||
        it->second <= 0)
      continue;
    const double xv = (cc - (1 - opt.ema_alpha) * cp) / opt.ema_alpha;
    if (xv > 0) x.push_back(xv), k.push_back(it->second);
  }
  return cv_of(x, k);
}

// (2) The timeline of one worker: (Δt − comm) per round, divided by its steps.
std::optional<double> cv_from_timeline(const json& w, const CalibrateOptions& opt) {
  const json& tl = w.value("timeline", json::object());
  const auto stride = static_cast<long long>(std::max(1.0, num(tl, "stride", 1)));
  const json pts = tl.is_object() ? tl.value("points", json::array()) : json::array();
  for (const json& p : pts)
    if (!p.is_array() || p.size() < 2 || !p[0].is_number() || !p[1].is_number()) return std::nullopt;
  const auto kd = k_done_by_round(w);
  std::vector<double> x, k;
  for (std::size_t j = std::max<std::size_t>(1, static_cast<std::size_t>(opt.skip_rounds)); j < pts.size();
       ++j) {
    double steps = 0;
    for (long long r = static_cast<long long>(j) * stride; r < static_cast<long long>(j + 1) * stride; ++r)
      steps += kd.count(r) ? kd.at(r) : 0.0;
    const double busy = pts[j][0].get<double>() - pts[j - 1][0].get<double>() - pts[j][1].get<double>();
    if (steps > 0 && busy > 0) x.push_back(busy / steps), k.push_back(steps);
  }
  return cv_of(x, k);
}

std::string fmt(double v) { return json(v).dump(); }

}  // namespace

double allreduce_s(const Calibration& c, int workers) {
  if (workers <= 1) return 0.0;
  const double m = workers;
  return 2.0 * (m - 1) / m * c.model_bytes / c.bandwidth_Bps + 2.0 * (m - 1) * c.latency_s;
}

double ps_transfer_s(const Calibration& c, int shards) {
  return 2.0 * c.model_bytes / c.bandwidth_Bps / std::max(1, shards) + 2.0 * c.latency_s;
}

Calibration calibrate(const json& summary, const CalibrateOptions& opt) {
  ESYNC_CHECK_T(ConfigError,
                opt.ema_alpha > 0 && opt.ema_alpha <= 1 && opt.latency_s >= 0 && opt.default_cv >= 0 &&
                    opt.server_mem_Bps > 0,
                "calibrate: bad options (alpha in (0,1], latency >= 0, CV >= 0, memory bandwidth > 0)");
  const json& run = pick_run(summary, opt.run);
  const json cfg = run.value("config", json()).is_object() ? run["config"] : json::object();
  const json& workers = run.value("workers", json::array());
  ESYNC_CHECK_T(ConfigError, workers.is_array(), "calibrate: run '", run.value("label", ""),
                "' has no workers list");
  Calibration cal;
  auto note = [&](std::string s) { cal.notes.push_back(std::move(s)); };
  cal.source.label = run.value("label", std::string());
  cal.source.mode = run.value("mode", cfg.value("mode", std::string("?")));
  cal.source.workers = static_cast<int>(workers.size());
  cal.source.shards = static_cast<int>(num(cfg, "servers", 0));
  cal.batch = static_cast<int>(num(cfg, "batch", 64));
  const auto slow = cfg.value("slowdown", std::vector<double>{});
  ESYNC_CHECK_T(ConfigError, !cfg.value("overlap", false), "calibrate: run '", cal.source.label,
                "' used --overlap, so its logs hold only the time a reduction held a worker up, not what it "
                "took; calibrate from the same job without --overlap, then simulate --modes esync+overlap");
  const std::string delay = cfg.value("delay", std::string());
  const bool delayed = !delay.empty() && delay != "none";
  double delay_sum = 0;

  double sent = 0, syncs = 0, comm = 0, overhead = 0, k_base = 1e18;
  int counted = 0, bottleneck = -1;
  std::vector<std::pair<double, double>> xy;  // (sent per sync, comm per sync) per worker
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const json& w = workers[i];
    if (!w.is_object()) continue;
    const json ts = w.value("time_split", json::object());
    const double steps = num(w, "steps"), rounds = num(w, "rounds");
    if (steps <= 0) continue;
    DeviceClass c;
    const int rank = static_cast<int>(num(w, "rank", double(i)));
    c.slowdown =
        rank >= 0 && rank < static_cast<int>(slow.size()) ? slow[static_cast<std::size_t>(rank)] : 1.0;
    c.step_s = (num(ts, "compute_s") + num(ts, "injected_s") - num(ts, "delay_s")) / steps;
    c.name =
        "rank" + std::to_string(rank) + " " + w.value("device", std::string("?")) + " x" + fmt(c.slowdown);
    c.cv = cv_from_coordinator(w, opt).value_or(-1.0);
    cal.classes.push_back(c);
    if (bottleneck < 0 ||
        num(ts, "wait_s") < num(workers[std::size_t(bottleneck)].value("time_split", json()), "wait_s"))
      bottleneck = static_cast<int>(i);
    if (rounds > 0) {
      sent += num(w, "bytes_sent"), syncs += rounds, comm += num(ts, "comm_s"), ++counted;
      delay_sum += num(ts, "delay_s");
      overhead += std::max(0.0, num(w, "train_wall_s") - num(ts, "total_s")) / rounds;
      xy.emplace_back(num(w, "bytes_sent") / rounds, num(ts, "comm_s") / rounds);
      cal.source.rounds = std::max(cal.source.rounds, static_cast<std::int64_t>(rounds));
    }
    // The slowest device gets K_base under the assign policy (it logs coordinator entries).
    const json kk = w.value("k", json::object());
    if (num(kk, "assigned_median") >= 1 && kk.is_object() && !kk.value("coordinator", json::array()).empty())
      k_base = std::min(k_base, num(kk, "assigned_median"));
  }
  ESYNC_CHECK_T(ConfigError, !cal.classes.empty(), "calibrate: no worker of run '", cal.source.label,
                "' has steps");

  // Step CVs: the coordinator's EMA per worker, else the bottleneck's timeline, else default.
  const auto tl_cv = cv_from_timeline(workers[std::size_t(bottleneck)], opt);
  int from_coord = 0;
  for (auto& c : cal.classes)
    if (c.cv >= 0)
      ++from_coord;
    else
      c.cv = tl_cv.value_or(opt.default_cv);
  note(from_coord ? "step CV: inverted the coordinator's EMA of each worker's per-round step time"
       : tl_cv ? "step CV: from the timeline of the bottleneck worker (rank " + std::to_string(bottleneck) +
                     "), given to every class"
               : "step CV: no per-round data, default " + fmt(opt.default_cv));
  double base = 0;
  for (const auto& c : cal.classes) base += c.step_s / c.slowdown / double(cal.classes.size());
  cal.base_step_s = base;
  cal.base_cv = std::min_element(cal.classes.begin(), cal.classes.end(), [](auto& a, auto& b) {
                  return a.slowdown < b.slowdown;
                })->cv;

  // The injected network delay per synchronisation (see the top).
  if (delayed) {
    ESYNC_CHECK_T(
        ConfigError, delay_sum > 0, "calibrate: run '", cal.source.label, "' injected --delay ", delay,
        " but its summary has no time_split.delay_s to tell it from the steps; summarize its logs again");
    cal.sync_delay = delay;
    note("the run injected --delay " + delay + " (" + fmt(syncs > 0 ? delay_sum / syncs : 0.0) +
         " s per synchronisation measured): a cost of every sync, not of the steps");
  }

  // Bytes and network (see the top).
  const int m = cal.source.workers, shards = std::max(1, cal.source.shards);
  const bool ps = cal.source.shards > 0;
  const double per_sync = syncs > 0 ? sent / syncs : 0.0;
  cal.model_bytes = ps ? per_sync : m > 1 ? per_sync * m / (2.0 * (m - 1)) : 0.0;
  cal.server_service_s = 3.0 * cal.model_bytes / opt.server_mem_Bps;
  const double x = ps ? 2.0 * cal.model_bytes / shards : per_sync, n = ps ? 2.0 : 2.0 * (m - 1);
  const double y = (syncs > 0 ? comm / syncs : 0.0) - (ps ? cal.server_service_s / shards : 0.0);
  const auto [lo, hi] = std::minmax_element(xy.begin(), xy.end());
  cal.latency_s = opt.latency_s;
  if (x <= 0 || y <= 0) {
    note("no communication measured: bandwidth " + fmt(cal.bandwidth_Bps) + " B/s and latency " +
         fmt(cal.latency_s) + " s are defaults, model bytes " + fmt(cal.model_bytes));
  } else if (!ps && xy.size() >= 2 && lo->first > 0 && hi->first > 1.2 * lo->first) {
    double mx = 0, my = 0, sxx = 0, sxy = 0;
    for (auto& [a, b] : xy) mx += a / double(xy.size()), my += b / double(xy.size());
    for (auto& [a, b] : xy) sxx += (a - mx) * (a - mx), sxy += (a - mx) * (b - my);
    const double slope = sxy / sxx, icept = my - slope * mx;
    if (slope > 0 && icept >= 0) cal.bandwidth_Bps = 1.0 / slope, cal.latency_s = icept / n;
    note("network: least squares over workers' message sizes");
  } else {
    if (y - n * cal.latency_s <= 0.1 * y) cal.latency_s = 0.5 * y / n;  // the default would eat it all
    cal.bandwidth_Bps = x / (y - n * cal.latency_s);
    note("network: one message size (" + fmt(x) + " B per sync, " + fmt(y) + " s): latency " +
         fmt(cal.latency_s) + " s per message assumed, bandwidth from the rest");
  }
  note("PS service time: streaming 3 x S bytes at " + fmt(opt.server_mem_Bps) + " B/s (not measured)");
  const double o = counted ? overhead / counted : 0.0;
  const Mode* source_mode = lookup_mode(cal.source.mode);
  const bool planned_k = source_mode && source_mode->k == KSource::state_server;
  if (planned_k) {
    cal.round_overhead_s = 0.0, cal.coord_overhead_s = o;
    note("overhead: " + fmt(o) + " s per round, taken as the state server's round trip (esync only)");
  } else {
    cal.round_overhead_s = o, cal.coord_overhead_s = 2 * cal.latency_s;
    note("overhead: " + fmt(o) +
         " s per round or update; state server round trip 2 latencies (not measured)");
  }

  const json& job = run.value("job", json::object());
  cal.source.samples_per_s = num(job, "samples_per_s");
  cal.source.round_s = cal.source.rounds ? num(job, "train_wall_s") / double(cal.source.rounds) : 0.0;
  // K_base: the job's if logged, else the smallest assigned median (the slowest gets K_base).
  cal.source.k_base =
      static_cast<int>(num(cfg, "k_base", k_base < 1e18 && planned_k ? k_base : num(cfg, "k_fixed", 4)));
  return cal;
}

}  // namespace esync::sim
