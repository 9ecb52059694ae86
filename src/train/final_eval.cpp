#include "train/final_eval.hpp"

#include <cstdio>
#include <set>

#include "esync/clock.hpp"
#include "esync/error.hpp"

namespace esync::train {

namespace {
constexpr const char* kEvaluated = "final/evaluated";
}

void announce_final_evaluation(const WorkerJob& job) {
  try {
    job.client->kv_set(kEvaluated, std::to_string(job.rank));
  } catch (const Error&) {  // the state server is gone: the others give up waiting on their own
  }
}

bool takes_over_final_evaluation(const WorkerJob& job) {
  using std::chrono::milliseconds;
  // A lower rank that died is declared lost within the heartbeat timeout (and a beat); one that
  // is not lost by then is alive and evaluates itself.
  const double deadline = mono_s() + job.config.heartbeat_timeout_s + 2 * job.config.heartbeat_interval_s;
  std::set<int> lost;
  int seen = 0;
  try {
    while (mono_s() < deadline) {
      if (job.client->kv_poll(kEvaluated, milliseconds(250), job.timeout)) return false;
      while (const auto r =
                 job.client->kv_poll("lost/" + std::to_string(seen), milliseconds(0), job.timeout)) {
        lost.insert(std::stoi(*r));
        ++seen;
      }
      bool lower_all_lost = true;
      for (int q = 0; q < job.rank && lower_all_lost; ++q) lower_all_lost = lost.count(q) > 0;
      if (lower_all_lost) return true;
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "worker %d: cannot learn who evaluates the final model: %s\n", job.rank, e.what());
    return false;
  }
  return false;
}

}  // namespace esync::train
