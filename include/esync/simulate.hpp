#pragma once
// A torch-free, event-driven performance model ("esync simulate"): predicts throughput, round
// time and time split of every mode (ssgd, asgd, dcasgd, esync, local-sgd) for clusters larger
// than the one at hand, from numbers measured on a real run (an esync.summary/1 document).
//
// What is modelled (and what is not):
//  - A device is a step-time distribution: lognormal with a calibrated mean and coefficient of
//    variation (CV), or exponential with that mean (CV 1: seed 003's runtime theory). Steps are
//    independent, across steps and across devices.
//  - The network is the usual alpha-beta model: a message of b bytes costs latency + b / bandwidth.
//    A ring allreduce of S bytes over M workers moves 2(M-1)/M·S bytes per worker in 2(M-1)
//    messages; a parameter-server push + pull moves S/shards to and from every shard in parallel,
//    costing 2·S/B/shards + 2·latency alone; each shard has one link that all workers share and
//    applies one push at a time (FIFO) in a fixed service time, so at scale pushes queue.
//    An extra delay per synchronisation (a slow or distant network, --delay) comes before it.
//  - --overlap (esync, local-sgd): a worker launches round r's reduction and goes on with round
//    r+1's steps; it is held up only when that reduction is not back by the end of round r+1.
//  - Not modelled: convergence (samples per second only, not accuracy per sample), contention
//    between processes sharing a host, topology (the allreduce is one flat ring: no NCCL trees,
//    hierarchy or multi-NIC links), stragglers that come and go, and failures. See the top of
//    src/analysis/simulate.cpp for each mode's rules and src/analysis/simulate_calibrate.cpp for the fit.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "esync/assignment.hpp"

namespace esync::sim {

// One device class: the source run's worker, or a factor of the speed mix.
struct DeviceClass {
  std::string name;       // e.g. "rank1 cpu x2"
  double slowdown = 1.0;  // the --slowdown factor it ran with (1: none)
  double step_s = 0.0;    // mean seconds of one local step of one batch (compute + slowdown)
  double cv = 0.1;        // coefficient of variation of one step's time
};

struct Calibration {
  std::vector<DeviceClass> classes;  // one per worker of the source run, in rank order
  double base_step_s = 0.0;          // a factor-1 device's mean step: mean over classes of step_s / slowdown
  double base_cv = 0.1;              // CV of a speed-mix device whose factor no class has
  int batch = 64;                    // samples per step
  double model_bytes = 0.0;          // S: bytes of one synchronised buffer (4 x floats)
  double bandwidth_Bps = 1e9;        // B: bytes/s of one link
  double latency_s = 1e-4;           // per message
  double server_service_s = 0.0;     // PS: time to apply one whole push (a shard takes 1/shards)
  double round_overhead_s = 0.0;     // per round (sync) or per update (async): loop time outside
                                     // compute, injected, comm and wait (logging, hand-offs)
  double coord_overhead_s = 2e-4;    // esync only: the state server's round trip before a round
  std::string sync_delay;            // extra network delay of every synchronisation, paid before
                                     // the exchange: a --delay spec (constant:10ms, gaussian:10ms,3ms,
                                     // exponential:10ms; "" none), drawn per worker and sync
  struct Source {                    // the run it came from, to replay and compare against
    std::string label, mode;
    int workers = 0, k_base = 4, shards = 0;
    std::int64_t rounds = 0;     // sync events of its longest-running worker
    double samples_per_s = 0.0;  // job throughput it measured
    double round_s = 0.0;        // train wall / rounds
  } source;
  std::vector<std::string> notes;  // how each number was obtained, for the CLI to print
};

struct CalibrateOptions {
  std::string run;              // label of the run to use; empty: the document's first
  double latency_s = 1e-4;      // used when one message size cannot separate latency
  double default_cv = 0.1;      // when neither coordinator nor timeline data give a CV
  double ema_alpha = 0.3;       // the state server's EMA, to invert it
  double server_mem_Bps = 5e9;  // memory bandwidth a PS shard streams its update at
  int skip_rounds = 1;          // warm-up rounds left out of the CV estimate
};

// From an esync.summary/1 document (or one of its runs, chosen by label). ConfigError when it is
// not such a document, the run is missing, or no worker has steps. Every choice is in `notes`.
Calibration calibrate(const nlohmann::json& summary, const CalibrateOptions& opt = {});

enum class StepDist { kLognormal, kExponential };

struct SimConfig {
  std::string mode = "esync";  // a mode of the mode table (modes.hpp)
  int workers = 3;             // M
  // Relative slowdown factors repeated over the M workers (worker j: base_step_s x mix[j % n]).
  // Empty: the calibration's classes repeated (worker j is class j % classes), which replays
  // the source run when M equals its worker count.
  std::vector<double> speed_mix;
  int k_base = 4, k_max = 64;           // esync: the state server's policy
  std::string policy = kDefaultPolicy;  // esync: assign | deadline
  int k_fixed = 4;                      // local-sgd
  bool overlap = false;                 // esync, local-sgd: each round's reduction runs behind the next
                                        // round's steps (esync run --overlap)
  bool ema_assign = true;               // esync: run the state server's EMA (round 0 at K_base, then
                                        // K from the EMA of reported step times); false: K fixed from
                                        // the calibrated means, the assignment the EMA converges to
  double ema_alpha = 0.3;
  std::int64_t rounds = 200;             // sync modes: rounds; async: rounds x M pushes in all
  double sim_seconds = 0.0;              // > 0: stop at this simulated time instead of `rounds`
                                         // (sync: after the round that reaches it)
  int shards = 0;                        // PS shards: asgd/dcasgd use max(1, shards); sync modes use
                                         // the PS when > 0, a ring allreduce when 0
  double dc_service_factor = 5.0 / 3.0;  // DC-ASGD's server update streams 5 vectors, ASGD's 3
  StepDist dist = StepDist::kLognormal;
  std::uint64_t seed = 1;
};

struct ClassResult {
  std::string name;
  int workers = 0;
  double step_s = 0.0;         // mean step time used
  double k_mean = 0.0;         // local steps per round (1 for ssgd and async)
  double samples_per_s = 0.0;  // all its workers together
  double compute_frac = 0.0, comm_frac = 0.0, wait_frac = 0.0, overhead_frac = 0.0;
};

struct SimResult {
  std::string mode;  // with "+overlap" when SimConfig::overlap
  int workers = 0;
  double samples_per_s = 0.0;
  double wall_s = 0.0;          // simulated time
  std::int64_t rounds = 0;      // sync rounds, or pushes (async)
  double round_s = 0.0;         // sync: mean round time; async: 0
  double update_s = 0.0;        // async: wall / pushes; sync: round_s
  double sync_s = 0.0;          // sync: the reduction, from the last part reaching the network
                                // (after its sync delay) to the last result back; async: push
                                // (before its delay) to pull back
  double mean_staleness = 0.0;  // async: pushes applied between a worker's pull and its push
  // Over all workers: fractions of M x wall (compute: utilisation; comm: allreduce or push/pull
  // transfer and the sync delay; wait: for the last arrival, or queueing + service at the PS;
  // overhead: per round). With overlap, as in the logs of such a run: comm 0, and wait is the
  // time a worker was held up by a reduction still in flight.
  double compute_frac = 0.0, comm_frac = 0.0, wait_frac = 0.0, overhead_frac = 0.0;
  std::vector<ClassResult> classes;
};

// The cost model's building blocks, exposed for tests and for the CLI's tables.
double allreduce_s(const Calibration& c, int workers);   // 2(M-1)/M·S/B + 2(M-1)·latency; 0 if M=1
double ps_transfer_s(const Calibration& c, int shards);  // 2·S/B/shards + 2·latency

// Runs the event-driven model. ConfigError on an unknown mode or out-of-range settings.
SimResult simulate(const Calibration& cal, const SimConfig& cfg);

// A mode as the CLI and SimResult::mode write it: "esync", or "esync+overlap" for overlap.
// set_mode parses it into cfg (ConfigError on a suffix other than +overlap).
std::string mode_name(const SimConfig& cfg);
void set_mode(SimConfig& cfg, const std::string& name);

// JSON forms (`json j = cal;`, `j.get<Calibration>()`: a calibration can be saved, edited and
// loaded; missing keys keep their defaults).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DeviceClass, name, slowdown, step_s, cv)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Calibration::Source, label, mode, workers, k_base, shards,
                                                rounds, samples_per_s, round_s)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Calibration, classes, base_step_s, base_cv, batch,
                                                model_bytes, bandwidth_Bps, latency_s, server_service_s,
                                                round_overhead_s, coord_overhead_s, sync_delay, source, notes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ClassResult, name, workers, step_s, k_mean, samples_per_s,
                                                compute_frac, comm_frac, wait_frac, overhead_frac)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SimResult, mode, workers, samples_per_s, wall_s, rounds,
                                                round_s, update_s, sync_s, mean_staleness, compute_frac,
                                                comm_frac, wait_frac, overhead_frac, classes)

}  // namespace esync::sim
