#pragma once
// Clocks: a monotonic one for durations and unix time for logs. Behind an interface so the
// state server's rules can be tested with a fake clock.
#include <chrono>

namespace esync {

inline double mono_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

inline double unix_s() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now() const = 0;  // seconds, monotonic
};

class SteadyClock final : public Clock {
 public:
  double now() const override { return mono_s(); }
};

}  // namespace esync
