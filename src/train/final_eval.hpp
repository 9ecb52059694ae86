#pragma once
// Who evaluates a parameter-server job's final model. Rank 0 does, and then says so to the state
// server ("final/evaluated"). A job that survives lost workers survives rank 0 too: when rank 0
// is lost, the lowest surviving rank evaluates the final model it pulled before leaving the
// shards. A worker learns which ranks are lost from the state server's "lost/<n>" keys
// (coordinator.cpp). A rank 0 that dies just before the end is only declared lost after the
// heartbeat timeout, so the others wait for that long at most before deciding: a lower rank not
// lost by then is alive and evaluates.
#include <limits>
#include <memory>
#include <string>

#include "esync/synchronizer.hpp"
#include "train/background_eval.hpp"
#include "train/worker_parts.hpp"

namespace esync::train {

// Rank 0, after its final evaluation: the others need not take over.
void announce_final_evaluation(const WorkerJob& job);
// Rank > 0: whether every lower rank is lost, so that this worker evaluates the final model;
// false as soon as rank 0 announces its evaluation, or when a lower rank is still alive after
// the heartbeat timeout.
bool takes_over_final_evaluation(const WorkerJob& job);

// The evaluator of a worker that evaluates the job (rank 0, or a regrouped group's new rank 0),
// on a CPU twin of the job's model. f0: a resumed least-squares job's F0 (NaN: none).
std::unique_ptr<BackgroundEval> make_evaluator(const JobConfig& cfg, const Dataset& ds, JsonlLog& log,
                                               double f0 = std::numeric_limits<double>::quiet_NaN());

// The end of a worker's part of the job, after its last round (fm holds its final model,
// settled): leaves the parameter server, evaluates the final model where this worker is the one
// to (its evaluator; or, in a parameter-server job that lost every lower rank, a new one), and
// writes what was evaluated for PyTorch (model.pt). Fills sum.final and sum.model. stamp: where
// the job stood when this worker's training ended, for a taken-over evaluation (the model's time,
// not the takeover's, which comes after the state server has declared rank 0 lost).
void finish_job(const WorkerJob& job, WorkerSetup& s, JsonlLog& log, sync::Synchronizer& syncer,
                BackgroundEval* evaluator, const logev::Eval& stamp, logev::WorkerSummary& sum);

}  // namespace esync::train
