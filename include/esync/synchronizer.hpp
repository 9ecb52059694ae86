#pragma once
// One Synchronizer per mode (DESIGN §3), chosen by name in make_synchronizer. The worker loop
// is the same for every mode:
//   K = begin_round(r, w)            how many local steps this round (SSGD: 1)
//   repeat K times: gradient; reduce_gradients(g) (SSGD only); optimiser step;
//                   step_done(r, c) may end the round early (ESync, poll policy)
//   end_round(w)                     model averaging (ESync, local-SGD)
// Every reduction carries control values in spare slots after the payload: the samples this
// worker contributes (for the n_i / sum n weighting), its stop vote, and one arrival-time slot
// per rank. So weighting, a consistent "stop now" decision on every rank, and the split of the
// reduction's time into waiting-for-the-slowest and communication cost no extra message and no
// barrier (arrival times share the job's time base; across hosts they assume NTP-synced clocks).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace esync::comm {
class Collective;
}
namespace esync::coord {
class CoordinatorClient;
}

namespace esync::sync {

// [samples, stop vote, arrival time of rank 0 .. world-1] after the payload
inline std::size_t control_slots(int world) { return 2 + static_cast<std::size_t>(world); }

struct SyncStats {
  double comm_s = 0, wait_s = 0;  // wait: until the last peer arrived; comm: the rest of the reduction
  std::uint64_t bytes_sent = 0, bytes_recv = 0;
  double total_samples = 0;  // sum over ranks of the samples reported in the last reduction
  void clear() { *this = SyncStats{}; }
};

struct SyncContext {
  comm::Collective* collective = nullptr;
  coord::CoordinatorClient* coordinator = nullptr;  // ESync's K; may be null for other modes
  std::string policy = "assign";                    // assign | poll
  float global_lr = 1.0f;
  int k_fixed = 4;  // local-sgd
  int k_max = 64;
};

class Synchronizer {
 public:
  virtual ~Synchronizer() = default;
  virtual std::string mode() const = 0;
  virtual int begin_round(std::uint64_t round, const float* w, std::size_t n, double mean_step_s) = 0;
  virtual bool step_done(std::uint64_t round, double step_s) { return false; }
  // grad has control_slots(world) spare floats after n. Returns the consensus stop decision.
  virtual bool reduce_gradients(float* grad, std::size_t n, double samples, bool stop, SyncStats& st) { return false; }
  virtual bool syncs_gradients() const { return false; }
  // Returns the consensus stop decision.
  virtual bool end_round(float* w, std::size_t n, double samples, bool stop, SyncStats& st) { return false; }
};

std::unique_ptr<Synchronizer> make_synchronizer(const std::string& mode, const SyncContext& ctx);

// Shared by the modes: one allreduce of n + control_slots floats; wait = latest arrival among
// the ranks minus ours, comm = the rest; traffic of a ring allreduce, 2 (M - 1) / M x bytes each
// way; returns the stop consensus. time_base: the job's common origin of unix time (seconds).
void set_time_base(double unix_s);
bool reduce_with_control(comm::Collective& c, float* buf, std::size_t n, double samples, bool stop, SyncStats& st);

}  // namespace esync::sync
