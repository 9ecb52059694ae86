#pragma once
// An allreduce group that loses a member re-forms without it (--on-failure continue), as
// Horovod elastic and torchrun do. When a collective of the training loop fails, each survivor:
//  1. closes its side of the broken group, so that peers blocked on it fail at once;
//  2. tells the state server the last round it completed, the samples the job had seen then and
//     its optimiser's step count ("regroup/<g>/<rank>"), and waits for the generation's answer
//     ("regroup/<g>"), given once every live worker has reported: the dead one is declared lost
//     after the heartbeat timeout, and is then not waited for (coordinator_regroup.cpp);
//  3. meets the other members in a new group under the prefix "comm/g<g>", ranks in job order;
//  4. takes the model of the most advanced member. Completed rounds differ by at most one (a
//     reduction can finish on some ranks and fail on others), and the global model of a round is
//     the same on every rank that completed it; a half-done round is dropped and its local steps
//     redone from that model. The gradient modes take its optimiser state too (the same on every
//     rank there); model averaging keeps each worker's own, as between rounds.
// A restarted worker takes its lost rank back (the state server lets a lost rank register again)
// and joins the same way: it reports to the next generation once ready (a generation that closed
// before, without it, sends it on to the following one); the state server says
// so in its heartbeat and round-plan replies; every member votes to regroup in its next
// reduction (a control slot beside the stop vote, synchronizer.hpp), so all of them regroup after
// the same round, and the newcomer takes their model.
// A loss during steps 3-4 (a second one) breaks the new group in turn: the same again with
// g + 1, nothing having changed (the model is taken only once all of it arrived). The rendezvous
// waits for at most the heartbeat timeout and two beats: a member that does not come by then
// is declared lost by the next answer.
// The lost worker's part of the training set is not redistributed: the survivors go on with
// their own parts until the job's sample target.
#include <cstdint>
#include <memory>
#include <vector>

#include "esync/optimizer.hpp"
#include "esync/synchronizer.hpp"
#include "train/worker_parts.hpp"

namespace esync::train {

// Where a worker stands: the last round whose synchronisation it completed (-1: none), the
// job's samples seen then, and its optimiser's steps (the lr schedule's position).
struct GroupProgress {
  std::int64_t round = -1;
  double seen = 0;
  std::int64_t steps = 0;
  bool evaluates = false;  // this worker evaluates the job's model (rank 0, or its successor)
  bool joining = false;    // a restarted worker that has no model of the job yet
};

struct Regrouped {
  int generation = 0;
  std::vector<int> members;  // job ranks, ascending: a member's group rank is its index
  int group_rank = 0;        // this worker's
  int source = 0;            // the group rank whose model everyone takes
  GroupProgress at;          // the source's
  bool evaluator = false;    // some member evaluates; if none, the member of group rank 0 starts to
  // Some member holds the job's model. A group of newcomers only (the others finished the job
  // while they started) does not meet: the job is over for them.
  bool established = true;
};

class GroupRecovery {
 public:
  explicit GroupRecovery(const WorkerJob& job);
  // An allreduce job with --on-failure continue: a broken group re-forms instead of ending it
  // (over gloo on the host, over NCCL in GPU memory: the synchroniser's Place).
  bool enabled() const { return enabled_; }
  // The last generation this worker went through: a rejoining worker announced for a later one
  // (the state server's news, coord_client.hpp) makes it vote to regroup.
  int generation() const { return generation_; }
  // Steps 1-4: afterwards s.coll is the new group, w (the host side of the whole flat buffer, n
  // floats) the source's agreed model, and with an optimiser (the gradient modes) its state
  // and steps too. agreed: this worker's agreed model (null: w itself). Throws PeerLostError when
  // this worker was left out (the state server declared it lost), TimeoutError when the state
  // server does not answer or the group cannot meet again.
  Regrouped recover(WorkerSetup& s, const GroupProgress& mine, float* w, const float* agreed, std::size_t n,
                    FlatOptimizer* optim);

  // The training loop's side of recover: the synchroniser is rebuilt on the new group (the old
  // one goes first: it may hold a reduction of the broken group in flight, --overlap, which its
  // destructor waits for), the model goes up to the device, the `regroup` event is logged.
  // settled: the last round's reduction completed and w holds its model (a regroup at a round
  // boundary); otherwise the synchroniser's agreed model is the one to share.
  Regrouped rebuild(WorkerSetup& s, std::unique_ptr<sync::Synchronizer>& syncer, sync::SyncContext& sctx,
                    FlatOptimizer& optim, const GroupProgress& mine, bool settled, const std::string& why,
                    JsonlLog& log);

 private:
  Regrouped answer(const GroupProgress& mine);    // step 2 (group_rank -1: left out)
  void meet(WorkerSetup& s, const Regrouped& g);  // step 3
  double beats() const;  // the heartbeat timeout and two beats: a lost worker is declared by then
  const WorkerJob& job_;
  bool enabled_;
  int generation_ = 0;
  std::unique_ptr<coord::CoordinatorClient> client_;  // the recovery's own, its calls short
};

}  // namespace esync::train
