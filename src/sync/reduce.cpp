#include <algorithm>
#include <atomic>
#include <vector>

#include "esync/clock.hpp"
#include "esync/collective.hpp"
#include "esync/heterogeneity.hpp"
#include "esync/synchronizer.hpp"

namespace esync::sync {
namespace {
// Arrival times travel as float32: relative to a base shared by all ranks they keep ~0.1 ms
// resolution over hours, where absolute unix time would keep 128 s.
std::atomic<double> g_time_base{0.0};
}  // namespace

void set_time_base(double unix_s) { g_time_base = unix_s; }

void inject_delay(const std::function<double()>& network_delay, SyncStats& st) {
  if (network_delay) st.delay_s += sleep_s(network_delay());
}

bool reduce_with_control(comm::Collective& c, const kernels::Place& at, float* buf, std::size_t n,
                         kernels::HostBuffer& ctl_buf, double samples, double weight, bool stop,
                         SyncStats& st, bool regroup) {
  const int world = c.size();
  if (ctl_buf.size() != control_slots(world)) ctl_buf = kernels::HostBuffer(at, control_slots(world));
  float* ctl = ctl_buf.data();
  std::fill(ctl, ctl + ctl_buf.size(), 0.0f);
  ctl[0] = static_cast<float>(samples);
  ctl[1] = static_cast<float>(weight);
  ctl[2] = stop ? 1.0f : 0.0f;
  ctl[3] = regroup ? 1.0f : 0.0f;
  const float* arrivals = ctl + 4;
  const double arrival = unix_s() - g_time_base.load();
  ctl[4 + static_cast<std::size_t>(c.rank())] = static_cast<float>(arrival);
  // On a GPU the copy is queued after the kernels that wrote the payload, and the reduction
  // after both on the same stream (collective.hpp).
  kernels::copy(at, buf + n, ctl, ctl_buf.size());
  const double t0 = mono_s();
  try {
    c.allreduce_sum_after(buf, n + ctl_buf.size(), at.stream);
  } catch (...) {
    // The copy above may still read ctl on the GPU: done before a regroup frees or refills it.
    // Bounded: at's stream never waits for the collective's.
    kernels::wait(at);
    throw;
  }
  kernels::copy(at, ctl, buf + n, ctl_buf.size());
  kernels::wait(at);
  const double took = mono_s() - t0;
  const double latest = *std::max_element(arrivals, arrivals + world);
  const double wait = std::clamp(latest - arrival, 0.0, took);
  st.wait_s += wait;
  st.comm_s += took - wait;
  const double m = world;
  const auto bytes =
      static_cast<std::uint64_t>(2.0 * (m - 1) / m * double(n + control_slots(world)) * sizeof(float));
  st.bytes_sent += bytes;
  st.bytes_recv += bytes;
  st.total_samples = ctl[0];
  st.total_weight = ctl[1];
  st.regroup = st.regroup || ctl[3] > 0.5f;
  return ctl[2] > 0.5f;
}

}  // namespace esync::sync
