#pragma once
// Heterogeneity emulation, so one host shows what a mixed cluster does:
//   --slowdown f_i: rank i's step lasts f_i x its nominal step time (SlowdownModel);
//   --delay constant:10ms | gaussian:10ms,3ms | exponential:10ms: added to every
//   synchronisation (seeds 002, 003). Injected time is reported apart from compute time.
#include <array>
#include <cstdint>
#include <random>
#include <string>

namespace esync {

class DelayModel {
 public:
  DelayModel() = default;  // no delay
  // Parses the spec; ConfigError with the accepted forms on anything else. "" or "none": none.
  DelayModel(const std::string& spec, std::uint64_t seed);
  double sample_s();  // seconds, >= 0
  bool enabled() const { return kind_ != Kind::kNone; }

 private:
  enum class Kind { kNone, kConstant, kGaussian, kExponential } kind_ = Kind::kNone;
  double a_ = 0, b_ = 0;
  std::mt19937_64 rng_;
};

// A device f times slower than this one: every step lasts f x the nominal step time, the
// fastest of the last 32 steps (this CPU at its best), the difference slept. Not f x the step
// just measured: on a shared host a slowed process's compute is itself inflated by contention
// (it wakes onto busy cores, with cold caches), and multiplying that inflation by f would make
// the emulated device slower than asked: 1,2,4 measured as 1 : 2.7 : 7 on 3 processes / 2 cores.
// A step that still overruns f x nominal is paid back from the following sleeps (at most one
// step's worth is owed), so the device's time over a round stays f x nominal per step; without
// it, contention spikes made the slowed workers' rounds jitter and the others wait.
// `basis` "measured" is the original ESync rule read literally instead: sleep (f - 1) x the step just
// measured, contention included. The two agree on a host with a core per process; on an
// oversubscribed one "measured" multiplies contention by f, and slowed devices come out slower
// than asked (1,2,4 as 1 : 2.8 : 7 in an ESync job on 3 processes / 2 cores). It is there to
// compare with harnesses that emulate that way (bench/pytorch_esync.py --basis measured).
class SlowdownModel {
 public:
  explicit SlowdownModel(double factor = 1.0, const std::string& basis = "nominal");
  // Seconds to sleep after a step whose work took compute_s (0 when factor is 1).
  double sleep_for(double compute_s);
  double factor() const { return factor_; }

 private:
  double factor_;
  bool measured_ = false;
  std::array<double, 32> recent_{};
  std::size_t count_ = 0;
  double debt_ = 0;  // seconds of overrun still to be paid back
};

// Sleeps for s seconds (no-op for s <= 0) and returns the time actually slept.
double sleep_s(double s);

}  // namespace esync
