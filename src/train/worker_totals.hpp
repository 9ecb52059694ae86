#pragma once
// What a worker's rounds add up to: each round's times and samples, its "sync" event, and the
// job's totals for the end-of-job summary. Seconds per kind: compute (the local steps, without
// injected time), slowdown (an emulated slower device), the synchroniser's comm, wait, hidden
// and injected network delay (SyncStats); injected = slowdown + delay, kept apart from both so
// the computing-time ratio can tell a slower device from a slower network.
#include <cstdint>

#include "esync/log_events.hpp"
#include "esync/synchronizer.hpp"

namespace esync::train {

struct RoundTotals {
  double compute = 0, device = 0, slowdown = 0, samples = 0;  // device: compute + slowdown
  int k_done = 0;
  // The round's mean step time on this (possibly emulated) device; `before` when no step ran.
  double step_s(double before) const { return k_done ? device / k_done : before; }
};

struct Totals {
  double compute = 0, injected = 0;
  std::int64_t steps = 0, samples = 0;
  sync::SyncStats sync;

  // Adds a round that ran r's steps, planned `k_planned`, and synchronised with st; returns its
  // "sync" event.
  logev::Sync add(std::uint64_t round, int k_planned, const RoundTotals& r, const sync::SyncStats& st) {
    samples += static_cast<std::int64_t>(r.samples);
    compute += r.compute;
    injected += r.slowdown + st.delay_s;
    sync.add(st);
    logev::Sync ev;
    ev.round = static_cast<std::int64_t>(round), ev.k_done = r.k_done, ev.k_assigned = k_planned;
    ev.compute_s = r.compute, ev.comm_s = st.comm_s, ev.wait_s = st.wait_s, ev.hidden_s = st.hidden_s;
    ev.slowdown_s = r.slowdown, ev.delay_s = st.delay_s, ev.injected_s = r.slowdown + st.delay_s;
    ev.bytes_sent = static_cast<std::int64_t>(st.bytes_sent);
    ev.bytes_recv = static_cast<std::int64_t>(st.bytes_recv);
    ev.staleness = st.staleness, ev.samples = r.samples;
    return ev;
  }

  // The summary's totals; train_wall_s: the training loop's seconds (throughput counts those).
  void fill(logev::WorkerSummary& sum, double train_wall_s) const {
    sum.steps = steps, sum.samples = samples;
    sum.train_wall_s = train_wall_s, sum.samples_per_s = double(samples) / train_wall_s;
    sum.compute_s = compute, sum.injected_s = injected, sum.delay_s = sync.delay_s;
    sum.comm_s = sync.comm_s, sum.wait_s = sync.wait_s, sum.hidden_s = sync.hidden_s;
    sum.bytes_sent = static_cast<std::int64_t>(sync.bytes_sent);
    sum.bytes_recv = static_cast<std::int64_t>(sync.bytes_recv);
  }
};

}  // namespace esync::train
