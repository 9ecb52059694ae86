#pragma once
// One Synchronizer per mode, made from the mode table (modes.hpp) by make_synchronizer. The worker loop
// is the same for every mode:
//   K = begin_round(r, w)            how many local steps this round (SSGD, ASGD, DC-ASGD: 1)
//   repeat K times: gradient; reduce_gradients(w, g) (gradient modes); optimiser step unless
//                   the synchroniser applied the update (the parameter server did);
//                   step_done(r, c) may end the round early (ESync, poll and deadline policies)
//   end_round(w)                     model averaging (ESync, local-SGD)
// Transport: a Collective (allreduce) or, when the job has parameter-server shards, a
// ps::PsClient (push and pull in one round trip; ASGD and DC-ASGD exist only there).
// Every reduction carries control values in spare slots after the payload: the samples this
// worker contributes (the job's sample count), its weight in the round's average (averaging.hpp),
// its stop vote, its regroup vote (a restarted worker waits to rejoin, train/regroup.hpp), and
// one arrival-time slot per rank. So weighting, a consistent "stop now" or "regroup after this
// round" decision on every rank, and the split of the reduction's time into waiting-for-the-slowest and
// communication cost no extra message and no barrier (arrival times share the job's time base; across hosts
// they assume NTP-synced clocks).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "esync/assignment.hpp"
#include "esync/averaging.hpp"
#include "esync/place.hpp"

namespace esync::comm {
class Collective;
}
namespace esync::coord {
class CoordinatorClient;
}
namespace esync::ps {
class PsClient;
struct PsReply;
}  // namespace esync::ps

namespace esync::sync {

// [samples, weight, stop vote, regroup vote, arrival time of rank 0 .. world-1] after the payload
inline std::size_t control_slots(int world) { return 4 + static_cast<std::size_t>(world); }

struct SyncStats {
  double comm_s = 0, wait_s = 0;  // wait: until the last peer arrived; comm: the rest of the reduction
  std::uint64_t bytes_sent = 0, bytes_recv = 0;
  double total_samples = 0;    // samples all ranks added since this rank's previous synchronisation
  double total_weight = 0;     // model averaging: the sum of the ranks' weights a_i (averaging.hpp)
  std::int64_t staleness = 0;  // parameter server: versions applied since the weights we computed on
  // --overlap: the seconds the reduction ran behind the next round's local steps (comm_s and
  // wait_s then hold only the time the worker itself was held up).
  double hidden_s = 0;
  double delay_s = 0;  // injected network delay (--delay) slept before the exchange, when it held the worker
  bool regroup = false;  // some rank voted to regroup: a restarted worker is admitted after this round
  void clear() { *this = SyncStats{}; }
  void add(const SyncStats& o) {
    comm_s += o.comm_s, wait_s += o.wait_s, hidden_s += o.hidden_s, delay_s += o.delay_s;
    total_samples += o.total_samples, total_weight += o.total_weight;
    bytes_sent += o.bytes_sent, bytes_recv += o.bytes_recv;
    staleness = std::max(staleness, o.staleness);
    regroup = regroup || o.regroup;
  }
};

struct SyncContext {
  comm::Collective* collective = nullptr;           // allreduce transport, or
  ps::PsClient* ps = nullptr;                       // the parameter server (takes precedence)
  coord::CoordinatorClient* coordinator = nullptr;  // ESync's K; may be null for other modes
  std::string policy = kDefaultPolicy;              // assign | deadline | poll
  float global_lr = 1.0f;
  int k_fixed = 4;  // local-sgd
  int k_max = 64;
  bool overlap = false;  // esync, local-sgd: reduce each round behind the next (ModelAveraging)
  std::function<double()> network_delay;    // seconds of injected delay before each exchange (--delay)
  Weighting weighting = kDefaultWeighting;  // esync, local-sgd: how the round's changes are averaged
  // Floats of the flat buffer that are parameters; BatchNorm buffers follow them (averaged plainly).
  std::size_t params = static_cast<std::size_t>(-1);
  // esync, local-sgd over allreduce: SCAFFOLD's control variates against client drift on non-iid
  // data (model_averaging.hpp).
  bool scaffold = false;
  // The longest a synchronisation's single exchange may take (the job's wait timeout): bounds
  // the wait for a reduction left in flight by --overlap.
  std::chrono::milliseconds timeout{60000};
  // Allreduce: this worker's regroup vote at each reduction (a rejoining worker waits); none: no.
  std::function<bool()> regroup_vote;
  // Where the buffers handed to the synchroniser live: host memory, or (an all-GPU group over
  // NCCL) the worker's GPU, where every kernel of the round then runs, on the Place's stream.
  // The parameter server's exchanges read and write host memory only.
  kernels::Place place;
};

class Synchronizer {
 public:
  virtual ~Synchronizer() = default;
  virtual std::string mode() const = 0;
  virtual int begin_round(std::uint64_t round, const float* w, std::size_t n, double mean_step_s) = 0;
  virtual bool step_done(std::uint64_t round, double step_s) { return false; }
  // The K the state server planned for this round, for the logs: begin_round's bound unless a
  // policy ends rounds by the clock (deadline), whose bound is K_max.
  virtual int planned_steps(int bound) const { return bound; }
  // grad has control_slots(world) spare floats after n. Returns the consensus stop decision.
  // When applies_update(), w holds the new weights afterwards and the worker skips its step.
  virtual bool reduce_gradients(float* w, float* grad, std::size_t n, double samples, bool stop,
                                SyncStats& st) {
    return false;
  }
  virtual bool syncs_gradients() const { return false; }
  // Each local step's gradient (the n_params parameter floats), before the optimiser step: a
  // drift correction may change it (model averaging with SCAFFOLD); nothing otherwise.
  virtual void correct_gradient(float* grad, std::size_t n_params) {}
  virtual bool applies_update() const { return false; }
  // Returns the consensus stop decision (with --overlap: that of the previous round's reduction,
  // this round's being still in flight).
  virtual bool end_round(float* w, std::size_t n, double samples, bool stop, SyncStats& st) { return false; }
  // Completes a reduction still in flight and applies it, so that every rank holds the same
  // model: when the job stops, and around checkpoints. Returns its stop consensus (false, and st
  // untouched, when nothing was in flight).
  virtual bool settle(float* w, std::size_t n, SyncStats& st) { return false; }
  // The model to evaluate: null for the worker's own w. With --overlap, w holds this worker's
  // progress not yet averaged; the job's model is the last global one it knows.
  virtual const float* global_model() const { return nullptr; }
  // The global model of the last round whose reduction this rank completed, which every rank
  // that completed it holds (train/regroup.hpp): null when that is w itself (the gradient modes,
  // whose weights move only after a completed reduction).
  virtual const float* agreed_model() const { return nullptr; }
};

// The mode's synchroniser (its row in modes.hpp decides which). The gradient modes exchange the
// parameters only; the model-averaging modes the whole flat buffer (BatchNorm statistics too).
std::unique_ptr<Synchronizer> make_synchronizer(const std::string& mode, const SyncContext& ctx);

// Shared by the modes: one allreduce of n + control_slots floats; wait = latest arrival among
// the ranks minus ours, comm = the rest; traffic of a ring allreduce, 2 (M - 1) / M x bytes each
// way; returns the stop consensus. time_base: the job's common origin of unix time (seconds).
void set_time_base(double unix_s);
// weight: this rank's a_i (model averaging; the gradient modes pass their samples).
// regroup: this rank's regroup vote; the consensus lands in st.regroup.
// at: where buf lives; the reduction starts after the work queued on its stream. The control
// values are written and read in `ctl` on the host (sized here; page-locked for a GPU, so the
// copies wait for the Place's stream alone), and go to and from a GPU's buffer in one small copy
// each way, queued on the Place's stream.
bool reduce_with_control(comm::Collective& c, const kernels::Place& at, float* buf, std::size_t n,
                         kernels::HostBuffer& ctl, double samples, double weight, bool stop, SyncStats& st,
                         bool regroup = false);
// Sleeps one draw of the injected network delay (nothing when none is set), into st.delay_s.
void inject_delay(const std::function<double()>& network_delay, SyncStats& st);
// The same for the parameter server: push x, receive the new weights into w; fills st from the
// reply (samples_seen: the job's pushed samples at this rank's previous exchange, updated).
// weight < 0: the samples (the gradient modes).
bool ps_exchange(ps::PsClient& ps, float* w, const float* x, double samples, double weight, bool stop,
                 SyncStats& st, double& samples_seen);

}  // namespace esync::sync
