#include "train/sync_staging.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "esync/clock.hpp"

namespace esync::train {

SyncStaging::SyncStaging(FlatModel& fm, std::size_t spare, bool copy)
    : fm_(fm),
      place_(fm.place()),
      copy_(copy),
      n_all_(static_cast<std::size_t>(fm.size())),
      n_params_(static_cast<std::size_t>(fm.num_params())) {
  host_current_ = !copy_;
  if (!copy_) return;
  w_ = kernels::HostBuffer(place_, n_all_);
  g_ = kernels::HostBuffer(place_, n_params_ + spare);
}

void SyncStaging::copy_now(float* dst, const float* src, std::size_t n) {
  // On the model's stream, after the steps that wrote the source; waited for, so the host side
  // may be read, or written again, at once.
  const double t0 = mono_s();
  kernels::copy(place_, dst, src, n);
  kernels::wait(place_);
  seconds_ += mono_s() - t0;
}

float* SyncStaging::weights() {
  if (!copy_) return fm_.data();
  if (!host_current_) copy_now(w_.data(), fm_.data(), n_all_);
  host_current_ = true;
  return w_.data();
}

float* SyncStaging::weights_out() { return copy_ ? w_.data() : fm_.data(); }

void SyncStaging::upload_weights(std::size_t n) {
  n = std::min(n, n_all_);
  // A partial upload leaves the rest of the host copy as stale as it was.
  host_current_ = host_current_ || n == n_all_;
  if (copy_) copy_now(fm_.data(), w_.data(), n);
}

float* SyncStaging::grads() {
  if (!copy_) return fm_.grad_data();
  copy_now(g_.data(), fm_.grad_data(), n_params_);
  return g_.data();
}

void SyncStaging::upload_grads() {
  if (copy_) copy_now(fm_.grad_data(), g_.data(), n_params_);
}

std::string SyncStaging::kind() const {
  if (!copy_) return "none";
  return place_.is_cuda() ? "pinned" : "host";
}

bool staging_copies(const FlatModel& fm, const std::string& backend) {
  if (fm.place().is_cuda()) return backend != "nccl";
  const char* force = std::getenv("ESYNC_FORCE_STAGING");
  return force && std::strcmp(force, "1") == 0;
}

}  // namespace esync::train
