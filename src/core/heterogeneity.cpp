#include "esync/heterogeneity.hpp"

#include <algorithm>
#include <thread>

#include "esync/clock.hpp"
#include "esync/error.hpp"

namespace esync {
namespace {

double parse_ms(const std::string& s, const std::string& spec) {
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    const std::string unit = s.substr(used);
    if (v >= 0 && (unit == "ms" || unit == "s" || unit == "us"))
      return unit == "ms" ? v / 1e3 : unit == "s" ? v : v / 1e6;
  } catch (const std::exception&) {
  }
  ESYNC_THROW(ConfigError, "--delay '", spec, "': '", s, "' is not a duration like 10ms");
}

}  // namespace

DelayModel::DelayModel(const std::string& spec, std::uint64_t seed) : rng_(seed) {
  if (spec.empty() || spec == "none") return;
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon),
                    args = colon == std::string::npos ? "" : spec.substr(colon + 1);
  const auto comma = args.find(',');
  if (kind == "constant" && comma == std::string::npos) {
    kind_ = Kind::kConstant;
    a_ = parse_ms(args, spec);
  } else if (kind == "exponential" && comma == std::string::npos) {
    kind_ = Kind::kExponential;
    a_ = parse_ms(args, spec);
  } else if (kind == "gaussian" && comma != std::string::npos) {
    kind_ = Kind::kGaussian;
    a_ = parse_ms(args.substr(0, comma), spec);
    b_ = parse_ms(args.substr(comma + 1), spec);
  } else {
    ESYNC_THROW(ConfigError, "--delay '", spec,
                "' (expected constant:10ms, gaussian:10ms,3ms or exponential:10ms)");
  }
}

double DelayModel::sample_s() {
  switch (kind_) {
    case Kind::kNone:
      return 0.0;
    case Kind::kConstant:
      return a_;
    case Kind::kGaussian:
      return std::max(0.0, std::normal_distribution<double>(a_, b_)(rng_));
    case Kind::kExponential:
      return a_ > 0 ? std::exponential_distribution<double>(1.0 / a_)(rng_) : 0.0;
  }
  return 0.0;
}

SlowdownModel::SlowdownModel(double factor, const std::string& basis)
    : factor_(factor), measured_(basis == "measured") {
  ESYNC_CHECK_T(ConfigError, factor >= 1.0, "slowdown factor ", factor, " must be >= 1");
  ESYNC_CHECK_T(ConfigError, basis == "nominal" || basis == "measured", "--slowdown-basis '", basis,
                "' (expected nominal or measured)");
}

double SlowdownModel::sleep_for(double compute_s) {
  if (factor_ <= 1.0) return 0.0;
  if (measured_) return (factor_ - 1.0) * compute_s;
  recent_[count_++ % recent_.size()] = compute_s;
  const std::size_t n = std::min(count_, recent_.size());
  const double nominal = *std::min_element(recent_.begin(), recent_.begin() + static_cast<std::ptrdiff_t>(n));
  // A step that overran its device time (contention on this host) is paid back from the next
  // sleeps, so the emulated device keeps its speed over a round; at most one step is owed.
  const double want = factor_ * nominal - compute_s - debt_;
  debt_ = std::min(std::max(0.0, -want), factor_ * nominal);
  return std::max(0.0, want);
}

double sleep_s(double s) {
  if (s <= 0) return 0.0;
  const double t0 = mono_s();
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
  return mono_s() - t0;
}

}  // namespace esync
