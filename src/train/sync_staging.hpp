#pragma once
// gloo and the parameter server work on host memory; NCCL on GPU memory. A worker whose model
// lives on a GPU and whose group reduces over gloo, or that talks to the parameter server, hands
// its synchroniser page-locked host mirrors of its flat buffers:
// the weights come down once before a model exchange and go up once after it, the gradient
// likewise around a gradient exchange, so a mixed CPU+GPU group costs a GPU worker one
// device-to-host and one host-to-device copy per synchronisation. The control values that ride
// after the payload (synchronizer.hpp) exist only in the host mirror.
// On a CPU worker, and on a GPU worker of an NCCL group (whose synchroniser runs its kernels on
// the GPU), the "mirrors" are the model's own buffers and nothing is copied, unless `copy` forces
// the staging on a CPU worker (so the GPU path's bookkeeping is tested with CPU tensors).
#include <cstddef>
#include <string>

#include "esync/place.hpp"
#include "train/flat_model.hpp"

namespace esync::train {

class SyncStaging {
 public:
  // spare: the floats after the gradient for control values (FlatModel's grad_spare).
  SyncStaging(FlatModel& fm, std::size_t spare, bool copy);
  bool copies() const { return copy_; }
  // Where the buffers this hands out live: the host when it copies, else the model's Place.
  kernels::Place sync_place() const { return copy_ ? kernels::Place::host() : place_; }
  // "none", "pinned" or "host" (log_events.hpp, WorkerSummary::staging).
  std::string kind() const;
  double seconds() const { return seconds_; }  // spent copying, over the job
  // The weights on the host, current: brought down unless the host copy still holds them.
  float* weights();
  // The host weights, for an exchange that overwrites them (nothing is brought down).
  float* weights_out();
  // An exchange wrote the first n host weights (all by default; the gradient modes' parameter
  // server sends the parameters only): they go up to the model.
  void upload_weights(std::size_t n = static_cast<std::size_t>(-1));
  // A local step changed the model's weights: the host copy is stale.
  void model_moved() { host_current_ = !copy_; }
  // The parameters' gradient on the host (brought down), control slots after it.
  float* grads();
  // An exchange or a correction changed the host gradient: it goes up to the model.
  void upload_grads();

 private:
  // One timed copy between the model and its host side, finished when it returns.
  void copy_now(float* dst, const float* src, std::size_t n);

  FlatModel& fm_;
  kernels::Place place_;
  bool copy_;
  std::size_t n_all_, n_params_;
  kernels::HostBuffer w_, g_;
  bool host_current_ = false;
  double seconds_ = 0;
};

// The staging a worker needs: copies when its model is on a GPU and its transport (`backend`:
// gloo, ps, nccl) is not NCCL, or when ESYNC_FORCE_STAGING=1 asks for them on a CPU worker
// (tests).
bool staging_copies(const FlatModel& fm, const std::string& backend);

}  // namespace esync::train
