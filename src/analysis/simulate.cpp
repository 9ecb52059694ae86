// The event-driven performance model (include/esync/simulate.hpp). One priority queue of
// timed events; every mode is a small set of event handlers. Notation: M workers, worker i with
// step time X_i (mean c_i), S model bytes, B bandwidth, a latency, batch b.
//
// Sync modes (ssgd, esync, local-sgd), round r:
//   every worker starts when the previous round's result is back, spends the per-round overhead
//   (logging; for esync also the state server's round trip: measured, see calibrate), then K_i
//   steps, then its sync delay D_i (--delay, drawn per worker and sync; 0 without), and arrives
//   at the barrier; after the last arrival a ring allreduce costs 2(M-1)/M·S/B + 2(M-1)·a (gloo
//   and NCCL rings: reduce-scatter + allgather), so
//   round time = max_i (overhead + Σ_{k≤K_i} X_ik + D_i) + allreduce;  samples = Σ_i K_i · b.
//   Over the parameter server (shards > 0) each worker pushes on arrival and starts its next
//   round when its own pull is back (the PS rules below).
//   With overlap (esync, local-sgd) a worker starts round r+1 as soon as it has launched round
//   r's reduction, and is held up only if that is not back when round r+1's steps are done.
//   K_i: the mode's K source with the state server's own policies (simulate_plan.hpp).
// Async modes (asgd, dcasgd): each worker loops overhead → step → push → pull, never waiting;
//   time per update = wall / pushes; staleness τ = pushes applied between its pull and push.
// The PS: a push is split over the shards; a part reaches its shard after a latency, occupies
//   the shard's FIFO for S/shards/B (its one link, shared by all workers) + service/shards (the
//   update), and the reply leaves by a second FIFO (the link's other direction) in S/shards/B,
//   arriving a latency later. Alone a worker pays ps_transfer_s (2·S/B/shards + 2a) plus the
//   update; many workers queue. Shards get every part at once and take equal times, so their
//   queues are identical: one stands for all. DC-ASGD's update streams 5 vectors (w, g, w_bak
//   in; w, w_bak out) against ASGD's 3: service × dc_service_factor.
#include "esync/simulate.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <queue>
#include <random>

#include "esync/error.hpp"
#include "esync/heterogeneity.hpp"
#include "esync/modes.hpp"
#include "simulate_plan.hpp"

namespace esync::sim {
namespace {

constexpr std::int64_t kMaxEvents = 500'000'000;  // a guard, minutes of simulation

struct Worker {
  int cls = 0;  // its class; its step time's mean and CV below
  double mean = 0, cv = 0, compute = 0, comm = 0, wait = 0, overhead = 0, samples = 0, k_sum = 0, rounds = 0;
  double pending = 0, sent = 0;  // async: step in flight, push time
  double push_delay = 0;         // async: the sync delay of the push in flight
  DelayModel delay;              // its sync delay (Calibration::sync_delay)
  std::int64_t pulled = 0;       // async: the server version it last pulled
};

struct Sampler {
  StepDist dist;
  std::mt19937_64 rng;
  // Lognormal with the given mean and CV: σ² = ln(1 + cv²), μ = ln(mean) − σ²/2.
  double draw(double mean, double cv) {
    if (dist == StepDist::kExponential) return std::exponential_distribution<double>(1.0 / mean)(rng);
    if (cv <= 0) return mean;
    const double s2 = std::log1p(cv * cv);
    return std::lognormal_distribution<double>(std::log(mean) - s2 / 2, std::sqrt(s2))(rng);
  }
};

enum Kind { kArrive, kPushArrive, kServed, kPullDone, kStepDone };
struct Event {
  double t;
  std::uint64_t seq;  // FIFO among equal times, so runs are reproducible
  Kind kind;
  int who;
  bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

struct Queue {
  std::priority_queue<Event, std::vector<Event>, std::greater<>> q;
  std::uint64_t seq = 0;
  std::int64_t popped = 0;
  void push(double t, Kind k, int who) { q.push({t, seq++, k, who}); }
  bool empty() const { return q.empty(); }
  Event pop() {
    ESYNC_CHECK_T(ConfigError, ++popped <= kMaxEvents, "simulation exceeds ", kMaxEvents,
                  " events: use fewer rounds or workers, or a shorter --seconds");
    const Event e = q.top();
    q.pop();
    return e;
  }
};

void validate(const Calibration& cal, const SimConfig& cfg) {
  const auto& m = cfg.mode;
  auto ok = [](double v) { return std::isfinite(v) && v >= 0; };
  const Mode& mode = find_mode(m);  // ConfigError naming the modes
  ESYNC_CHECK_T(ConfigError, cfg.policy == "assign" || cfg.policy == "deadline", "policy '", cfg.policy,
                "': the model plans K by assign or deadline (poll's per-step round trips are not modelled)");
  ESYNC_CHECK_T(ConfigError, cfg.workers >= 1 && cfg.workers <= 1'000'000, "workers must be in [1, 1e6]");
  ESYNC_CHECK_T(ConfigError, cfg.k_base >= 1 && cfg.k_max >= cfg.k_base && cfg.k_fixed >= 1,
                "need 1 <= K_base <= K_max and K_fixed >= 1");
  ESYNC_CHECK_T(ConfigError,
                ok(cfg.sim_seconds) && (cfg.sim_seconds > 0 || cfg.rounds >= 1) && cfg.rounds <= (1LL << 40),
                "need rounds in [1, 2^40] or seconds > 0");
  ESYNC_CHECK_T(ConfigError,
                cfg.shards >= 0 && cfg.shards <= 4096 && cfg.ema_alpha > 0 && cfg.ema_alpha <= 1 &&
                    ok(cfg.dc_service_factor),
                "need shards in [0, 4096], EMA alpha in (0, 1], DC service factor >= 0");
  ESYNC_CHECK_T(ConfigError, !cfg.overlap || mode.averages_models(),
                "+overlap is only for esync and local-sgd, not ", m,
                " (its step needs the reduction's result)");
  for (double f : cfg.speed_mix) ESYNC_CHECK_T(ConfigError, ok(f) && f > 0, "speed factors must be > 0");
  ESYNC_CHECK_T(ConfigError,
                cal.batch >= 1 && ok(cal.bandwidth_Bps) && cal.bandwidth_Bps > 0 && ok(cal.latency_s) &&
                    ok(cal.model_bytes) && ok(cal.server_service_s) && ok(cal.round_overhead_s) &&
                    ok(cal.coord_overhead_s),
                "calibration: need batch >= 1, bandwidth > 0; latency, bytes, service and overheads >= 0");
  DelayModel(cal.sync_delay, 0);  // ConfigError naming the accepted forms
  const bool mix = !cfg.speed_mix.empty();
  ESYNC_CHECK_T(ConfigError,
                mix ? ok(cal.base_step_s) && cal.base_step_s > 0 && ok(cal.base_cv) : !cal.classes.empty(),
                "calibration: need a base step time > 0 (speed mix) or device classes (none given)");
  for (const auto& c : cal.classes)
    ESYNC_CHECK_T(ConfigError, mix || (ok(c.step_s) && c.step_s > 0 && ok(c.cv)), "class ", c.name,
                  ": step time must be > 0 and CV >= 0");
}

// Worker j's class and step distribution; the classes of the result, in first-use order.
std::vector<Worker> make_workers(const Calibration& cal, const SimConfig& cfg,
                                 std::vector<ClassResult>& out) {
  std::vector<Worker> ws(static_cast<std::size_t>(cfg.workers));
  const auto& mix = cfg.speed_mix;
  const std::size_t n = mix.empty() ? cal.classes.size() : mix.size();
  std::map<double, int> by_factor;  // speed mix: a class per distinct factor
  for (std::size_t j = 0; j < ws.size(); ++j) {
    Worker& w = ws[j];
    if (mix.empty()) {
      const DeviceClass& c = cal.classes[j % n];
      w.cls = static_cast<int>(j % n), w.mean = c.step_s, w.cv = c.cv;
      if (w.cls >= static_cast<int>(out.size())) out.push_back({c.name, 0, c.step_s});
    } else {
      const double f = mix[j % n];
      auto [it, fresh] = by_factor.try_emplace(f, static_cast<int>(by_factor.size()));
      w.cls = it->second, w.mean = cal.base_step_s * f, w.cv = cal.base_cv;
      // A device the source run emulated at this factor keeps its measured CV.
      for (const auto& c : cal.classes)
        if (std::abs(c.slowdown - f) < 1e-9) w.cv = c.cv;
      if (fresh) out.push_back({std::string("x").append(nlohmann::json(f).dump()), 0, w.mean});
    }
    ++out[static_cast<std::size_t>(w.cls)].workers;
    w.delay = DelayModel(cal.sync_delay, cfg.seed * 1'000'003 + j);
  }
  return ws;
}

struct Run {
  const Calibration& cal;
  const SimConfig& cfg;
  std::vector<Worker> ws;
  Sampler rng;
  Queue q;
  double link = 0, service = 0;      // a shard's part through its link; a shard's update time
  double in_free = 0, out_free = 0;  // when the shard's FIFOs (ingest + update, reply) free up
  std::int64_t version = 0;

  // FIFOs by Lindley's recursion (events come in time order): a push part reaching the shard at
  // t is applied at the returned time; a reply leaving at t is out at the returned time.
  double ingest(double t) { return in_free = std::max(t, in_free) + link + service; }
  double egress(double t) { return out_free = std::max(t, out_free) + link; }
  double alone() const { return 2 * (cal.latency_s + link) + service; }  // a push + pull, no queue

  // Sync modes: rounds until `rounds` or `sim_seconds` (whole rounds). Worker i starts round r
  // at start[i] and launches its part of the reduction at launch[i]; back[i] is when that
  // reduction's result is back at i. Synchronous: start[i] of the next round = back[i] (all
  // equal over an allreduce). Overlap: start = launch, and launch waits for the previous
  // round's back (end_round collects it before sending the next), so
  //   launch_i^r = max(arrive_i^r, back_i^{r-1}),  reduction r ends max_i (launch_i^r + D_i) + cost.
  // The job ends when the last worker is done (with overlap, after the last reduction is
  // settled); a worker done earlier waits for it, so each worker's four shares sum to the wall.
  void run_sync(SimResult& res) {
    const bool ps = cfg.shards > 0, overlap = cfg.overlap;
    const double ar = allreduce_s(cal, cfg.workers);
    const bool asks_coordinator = find_mode(cfg.mode).k == KSource::state_server;
    const double oh = cal.round_overhead_s + (asks_coordinator ? cal.coord_overhead_s : 0.0);
    const std::size_t n = ws.size();
    std::vector<double> start(n, 0.0), launch(n), back(n, 0.0), x(n), delay(n);
    double t = 0, sync_sum = 0;
    std::vector<double> means(n);
    for (std::size_t i = 0; i < n; ++i) means[i] = ws[i].mean;
    RoundPlanner planner(cfg, means);
    std::int64_t r = 0;
    for (; cfg.sim_seconds > 0 ? t < cfg.sim_seconds : r < cfg.rounds; ++r) {
      for (std::size_t i = 0; i < n; ++i) {
        Worker& w = ws[i];
        const auto steps = planner.run(static_cast<int>(i), static_cast<std::uint64_t>(r),
                                       [&] { return rng.draw(w.mean, w.cv); });
        const double d = steps.compute;
        w.compute += d, w.overhead += oh, w.k_sum += steps.k, w.samples += double(steps.k) * cal.batch,
            ++w.rounds;
        x[i] = d / steps.k;
        const double arrive = start[i] + oh + d;
        launch[i] = overlap ? std::max(arrive, back[i]) : arrive;
        if (overlap) w.wait += launch[i] - arrive;  // held up by the previous round's reduction
        delay[i] = w.delay.sample_s();
        q.push(launch[i] + delay[i], kArrive, static_cast<int>(i));
      }
      const double last = reduce(ps, ar, back), end = *std::max_element(back.begin(), back.end());
      sync_sum += end - last;
      for (std::size_t i = 0; i < n; ++i) {
        const double cost = (ps ? alone() : ar) + delay[i];
        if (!overlap) ws[i].comm += cost, ws[i].wait += std::max(0.0, back[i] - launch[i] - cost);
        planner.report(static_cast<int>(i), x[i]);  // the round's mean step time, to the state server
        start[i] = overlap ? launch[i] : back[i];
      }
      t = *std::max_element(start.begin(), start.end());
    }
    if (overlap)  // the last reduction is settled: every worker waits for it
      for (std::size_t i = 0; i < n; ++i) ws[i].wait += back[i] - start[i], start[i] = back[i];
    t = r ? *std::max_element(start.begin(), start.end()) : 0.0;
    for (std::size_t i = 0; i < n; ++i) ws[i].wait += t - start[i];
    res.wall_s = t, res.rounds = r;
    res.round_s = res.update_s = r ? t / double(r) : 0.0;
    res.sync_s = r ? sync_sum / double(r) : 0.0;
  }

  // One reduction, from the kArrive events queued (a worker's part reaching the network):
  // back[i] is when its result is back at worker i. Returns the last arrival.
  double reduce(bool ps, double ar, std::vector<double>& back) {
    const std::size_t n = back.size();
    double last = 0;
    for (std::size_t left = n, served = 0, done = 0; done < n;) {
      const Event e = q.pop();
      if (e.kind == kArrive) {
        last = e.t;
        if (ps)
          q.push(e.t + cal.latency_s, kPushArrive, e.who);
        else if (--left == 0)
          std::fill(back.begin(), back.end(), e.t + ar), done = n;
      } else if (e.kind == kPushArrive) {
        q.push(ingest(e.t), kServed, e.who);
      } else if (e.kind == kServed && ++served == n) {  // the round closes: every reply goes out
        for (int i = 0; i < cfg.workers; ++i) q.push(egress(e.t) + cal.latency_s, kPullDone, i);
      } else if (e.kind == kPullDone) {
        back[static_cast<std::size_t>(e.who)] = e.t, ++done;
      }
    }
    return last;
  }

  void start_step(double t, int i) {
    Worker& w = ws[static_cast<std::size_t>(i)];
    w.pending = rng.draw(w.mean, w.cv);
    q.push(t + cal.round_overhead_s + w.pending, kStepDone, i);
  }

  void run_async(SimResult& res) {
    const std::int64_t target = cfg.sim_seconds > 0 ? -1 : cfg.rounds * cfg.workers;
    for (int i = 0; i < cfg.workers; ++i) start_step(0.0, i);
    std::int64_t pushes = 0, pulls = 0;
    double stale_sum = 0, rtt_sum = 0, t = 0;
    while (!q.empty() && pushes != target) {
      const Event e = q.pop();
      if (cfg.sim_seconds > 0 && e.t > cfg.sim_seconds) break;
      t = e.t;
      Worker& w = ws[static_cast<std::size_t>(e.who)];
      if (e.kind == kStepDone) {
        w.compute += w.pending, w.overhead += cal.round_overhead_s, w.sent = t;
        w.push_delay = w.delay.sample_s();
        q.push(t + w.push_delay + cal.latency_s, kPushArrive, e.who);
      } else if (e.kind == kPushArrive) {
        q.push(ingest(t), kServed, e.who);
      } else if (e.kind == kServed) {  // applied: the server's version moves on, the reply goes out
        stale_sum += double(version - w.pulled);
        w.pulled = ++version, ++pushes, w.samples += cal.batch, w.k_sum += 1, ++w.rounds;
        q.push(egress(t) + cal.latency_s, kPullDone, e.who);
      } else if (e.kind == kPullDone) {  // comm: the delay and transfers alone; wait: update, queueing
        const double comm = w.push_delay + alone() - service;
        w.comm += comm, w.wait += t - w.sent - comm;
        rtt_sum += t - w.sent, ++pulls;
        start_step(t, e.who);
      }
    }
    res.wall_s = cfg.sim_seconds > 0 ? cfg.sim_seconds : t, res.rounds = pushes;
    res.update_s = pushes ? res.wall_s / double(pushes) : 0.0;
    res.sync_s = pulls ? rtt_sum / double(pulls) : 0.0;
    res.mean_staleness = pushes ? stale_sum / double(pushes) : 0.0;
  }
};

}  // namespace

SimResult simulate(const Calibration& cal, const SimConfig& cfg) {
  validate(cal, cfg);
  SimResult res;
  res.mode = mode_name(cfg), res.workers = cfg.workers;
  Run run{cal, cfg, make_workers(cal, cfg, res.classes), Sampler{cfg.dist, std::mt19937_64(cfg.seed)}, {}};
  const int shards = std::max(1, cfg.shards);
  run.link = cal.model_bytes / cal.bandwidth_Bps / shards;
  const Mode& mode = find_mode(cfg.mode);
  run.service = cal.server_service_s / shards * (mode.compensates_delay ? cfg.dc_service_factor : 1.0);
  mode.asynchronous ? run.run_async(res) : run.run_sync(res);

  // Fractions of each worker's wall time, summed per class and over all.
  const double wall = res.wall_s > 0 ? res.wall_s : 1.0;
  double samples = 0, c = 0, m = 0, w = 0, o = 0;
  for (const Worker& wk : run.ws) {
    ClassResult& cr = res.classes[static_cast<std::size_t>(wk.cls)];
    cr.samples_per_s += wk.samples / wall, cr.compute_frac += wk.compute, cr.comm_frac += wk.comm;
    cr.wait_frac += wk.wait, cr.overhead_frac += wk.overhead,
        cr.k_mean += wk.rounds ? wk.k_sum / wk.rounds : 0.0;
    samples += wk.samples, c += wk.compute, m += wk.comm, w += wk.wait, o += wk.overhead;
  }
  for (ClassResult& cr : res.classes) {
    const double n = cr.workers, d = n * wall;
    cr.k_mean /= n, cr.compute_frac /= d, cr.comm_frac /= d, cr.wait_frac /= d, cr.overhead_frac /= d;
  }
  const double mw = double(cfg.workers) * wall;
  res.samples_per_s = samples / wall;
  res.compute_frac = c / mw, res.comm_frac = m / mw, res.wait_frac = w / mw, res.overhead_frac = o / mw;
  return res;
}

constexpr const char* kOverlapSuffix = "+overlap";

std::string mode_name(const SimConfig& cfg) { return cfg.overlap ? cfg.mode + kOverlapSuffix : cfg.mode; }

void set_mode(SimConfig& cfg, const std::string& name) {
  const auto plus = name.find('+');
  ESYNC_CHECK_T(ConfigError, plus == std::string::npos || name.substr(plus) == kOverlapSuffix, "mode '", name,
                "': the only suffix is ", kOverlapSuffix);
  cfg.mode = name.substr(0, plus), cfg.overlap = plus != std::string::npos;
}

}  // namespace esync::sim
