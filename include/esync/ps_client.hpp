#pragma once
// A worker's connection to every parameter-server shard: one DEALER socket per shard, so a
// push or pull goes to all shards at once and the replies are gathered as they come. A push
// carries the version each slice was computed on and returns the new weights (push and pull in
// one round trip). Tensor slices leave zero-copy from the caller's buffer: the shard's reply
// proves it received the whole slice, so the buffer is free again when the call returns.
// Every wait is bounded; a timeout names the shards that did not answer.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "esync/curve.hpp"

namespace esync::ps {

struct PsReply {
  std::uint64_t version = 0;   // the lowest shard version in this reply
  std::int64_t staleness = 0;  // the largest over the shards
  double samples = 0;          // samples pushed by all workers so far (largest over the shards)
  bool stop = false;           // some worker voted to stop
  double wait_s = 0;           // time a sync round held this push for the others (largest)
  std::uint64_t bytes_sent = 0, bytes_recv = 0;
};

class PsClient {
 public:
  // endpoints: one per shard, in shard order; n: the flat buffer's length. curve: the job's
  // CURVE public key (off: plain TCP), by default from ESYNC_CURVE_SERVER.
  PsClient(std::vector<std::string> endpoints, std::string token, int rank, std::uint64_t job_id,
           std::size_t n, std::chrono::milliseconds timeout,
           const wire::CurveKeys& curve = wire::curve_keys_from_env());
  ~PsClient();
  int shards() const;
  // Rank 0, once: the initial weights of every shard.
  void init(const float* w);
  // The current weights into w (waits until rank 0 has initialised the shards).
  PsReply pull(float* w);
  // Elastic join: a worker that was not live at the start becomes live at the same round on
  // every shard (see ps_server.hpp) and receives that round's weights into w. Retries when a
  // shard moved past the version it asked for; throws TimeoutError after a few tries.
  PsReply join(float* w);
  // Pushes x (a gradient or an n_i-weighted delta) computed on the last weights received, and
  // writes the weights the shards answer with into w. x and w may be the same buffer.
  PsReply push_pull(float* w, const float* x, double samples, bool stop, double weight = -1);
  // The next push asks every shard to write round `round`'s checkpoint once it has applied it.
  void request_checkpoint(std::uint64_t round);
  // Leaves the job on every shard (best effort: a shard already gone is not an error).
  void leave(const std::string& status);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace esync::ps
