#include "esync/clock.hpp"
#include "esync/collective.hpp"
#include "esync/synchronizer.hpp"

namespace esync::sync {

bool reduce_with_control(comm::Collective& c, float* buf, std::size_t n, double samples, bool stop, SyncStats& st) {
  buf[n] = static_cast<float>(samples);
  buf[n + 1] = stop ? 1.0f : 0.0f;
  const double t0 = mono_s();
  c.barrier();  // time spent here is time waiting for the slowest peer, not communication
  const double t1 = mono_s();
  c.allreduce_sum(buf, n + kControlSlots);
  const double t2 = mono_s();
  st.wait_s += t1 - t0;
  st.comm_s += t2 - t1;
  const double m = c.size();
  const auto bytes = static_cast<std::uint64_t>(2.0 * (m - 1) / m * double(n + kControlSlots) * sizeof(float));
  st.bytes_sent += bytes;
  st.bytes_recv += bytes;
  st.total_samples = buf[n];
  return buf[n + 1] > 0.5f;
}

}  // namespace esync::sync
