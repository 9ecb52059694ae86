#pragma once
// Tests of stream ordering: a host function that holds a CUDA stream, so a test can show what
// does (and does not) wait for the work queued on it. CUDA builds only.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace esync::test {

// Holds stream s on the GPU, from the moment it is constructed, until open() or `limit` has
// passed (expired() then says so). The destructor opens it and waits for the stream.
class StreamGate {
 public:
  StreamGate(cudaStream_t s, std::chrono::seconds limit) : s_(s), deadline_(Clock::now() + limit) {
    EXPECT_EQ(cudaLaunchHostFunc(s, &hold, this), cudaSuccess);
  }
  StreamGate(const StreamGate&) = delete;
  StreamGate& operator=(const StreamGate&) = delete;
  ~StreamGate() {
    open();
    cudaStreamSynchronize(s_);  // the host function reads this object
  }
  void open() { open_ = true; }
  bool expired() const { return expired_; }

 private:
  using Clock = std::chrono::steady_clock;
  static void hold(void* self) {  // on a CUDA driver thread; calls no CUDA API
    auto* g = static_cast<StreamGate*>(self);
    while (!g->open_) {
      if (Clock::now() >= g->deadline_) {
        g->expired_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  cudaStream_t s_;
  Clock::time_point deadline_;
  std::atomic<bool> open_{false}, expired_{false};
};

}  // namespace esync::test
