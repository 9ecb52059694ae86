#pragma once
// The handle of work running in the background: an asynchronous collective
// (Collective::allreduce_sum_async), or a synchronisation made of several calls (ESync's and
// local-SGD's reduction under --overlap). As c10d's Work: the call that starts it returns at once;
// completed() polls; wait(timeout) returns the result or rethrows the work's own error, and
// throws TimeoutError naming the work when it has not finished in time.
//
// The work uses buffers and transports its starter owns, so it is never abandoned: destroying a
// handle whose work still runs blocks until it ends (the collectives' own timeouts bound that).
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <utility>

#include "esync/error.hpp"

namespace esync::comm {

template <class T>
class Work {
 public:
  Work() = default;  // no work (valid() is false)
  Work(std::string what, std::future<T> f) : what_(std::move(what)), f_(std::move(f)) {}

  bool valid() const { return f_.valid(); }
  const std::string& what() const { return what_; }
  // Finished, with a result or an error; never blocks.
  bool completed() const {
    return f_.valid() && f_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
  // The result (the handle is then empty), or the work's exception. TimeoutError after
  // `timeout`, the work still running and the handle still valid.
  T wait(std::chrono::milliseconds timeout) {
    ESYNC_CHECK(f_.valid(), "wait on an empty Work handle");
    if (f_.wait_for(timeout) != std::future_status::ready)
      ESYNC_THROW(TimeoutError, "waited ", static_cast<double>(timeout.count()) / 1000.0, " s for ", what_);
    return f_.get();
  }

 private:
  std::string what_;
  std::future<T> f_;
};

// Runs fn on a thread of its own; `what` names it in a timeout ("the reduction of round 12").
template <class T>
Work<T> start_async(std::string what, std::function<T()> fn) {
  return Work<T>(std::move(what), std::async(std::launch::async, std::move(fn)));
}

}  // namespace esync::comm
