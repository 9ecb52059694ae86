// Learning-rate schedules, evaluated per step t:
//   cosine:      lr_t = lr0 * (1 + cos(pi * t / T)) / 2   (T = total steps, lr_T = 0)
//   exponential: lr_t = lr0 * gamma^(t / steps_per_epoch) (gamma per epoch, stepped per epoch)
//   warm-up:     lr_t *= (t + 1) / W for t < W             (Goyal et al.'s gradual warm-up: a large
//                                                            rate from a random start diverges)
#include <algorithm>
#include <cmath>
#include <numbers>

#include "esync/error.hpp"
#include "esync/optimizer.hpp"

namespace esync {

void check_schedule(const std::string& kind) {
  ESYNC_CHECK_T(ConfigError, kind == "none" || kind == "cosine" || kind == "exponential",
                "unknown --lr-schedule '", kind, "' (expected none, cosine or exponential)");
}

float LrSchedule::at(std::int64_t step) const {
  double lr = base_lr;
  if (kind == "cosine" && total_steps > 0) {  // no length (a misuse): no decay rather than a rate of 0
    const double frac = std::clamp(double(step) / double(total_steps), 0.0, 1.0);
    lr = base_lr * 0.5 * (1.0 + std::cos(std::numbers::pi * frac));
  } else if (kind == "exponential") {
    const auto epoch = step / std::max<std::int64_t>(steps_per_epoch, 1);
    lr = base_lr * std::pow(double(gamma), double(epoch));
  } else if (kind != "cosine") {
    check_schedule(kind);
  }
  if (step < warmup) lr *= double(std::max<std::int64_t>(step, 0) + 1) / double(warmup);
  return static_cast<float>(lr);
}

}  // namespace esync
