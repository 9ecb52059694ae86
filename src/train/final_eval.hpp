#pragma once
// Who evaluates a parameter-server job's final model. Rank 0 does, and then says so to the state
// server ("final/evaluated"). A job that survives lost workers survives rank 0 too: when rank 0
// is lost, the lowest surviving rank evaluates the final model it pulled before leaving the
// shards. A worker learns which ranks are lost from the state server's "lost/<n>" keys
// (coordinator.cpp). A rank 0 that dies just before the end is only declared lost after the
// heartbeat timeout, so the others wait for that long at most before deciding: a lower rank not
// lost by then is alive and evaluates.
#include <string>

#include "train/worker_parts.hpp"

namespace esync::train {

// Rank 0, after its final evaluation: the others need not take over.
void announce_final_evaluation(const WorkerJob& job);
// Rank > 0: whether every lower rank is lost, so that this worker evaluates the final model;
// false as soon as rank 0 announces its evaluation, or when a lower rank is still alive after
// the heartbeat timeout.
bool takes_over_final_evaluation(const WorkerJob& job);

}  // namespace esync::train
