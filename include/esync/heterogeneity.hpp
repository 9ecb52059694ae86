#pragma once
// Heterogeneity emulation (DESIGN §3), so one host shows what a mixed cluster does:
//   --slowdown f_i: rank i sleeps (f_i - 1) x its measured compute time after every step;
//   --delay constant:10ms | gaussian:10ms,3ms | exponential:10ms: added to every
//   synchronisation (seeds 002, 003). Injected time is reported apart from compute time.
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

// Sleeps for s seconds (no-op for s <= 0) and returns the time actually slept.
double sleep_s(double s);

}  // namespace esync
