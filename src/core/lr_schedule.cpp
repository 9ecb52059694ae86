// Learning-rate schedules, evaluated per optimiser step:
//   cosine:      lr_t = lr0 * (1 + cos(pi * t / T)) / 2   (T = total steps, lr_T = 0)
//   exponential: lr_t = lr0 * gamma^(t / steps_per_epoch) (gamma per epoch, stepped per epoch)
#include <algorithm>
#include <cmath>
#include <numbers>

#include "esync/error.hpp"
#include "esync/optimizer.hpp"

namespace esync {

float LrSchedule::at(std::int64_t step) const {
  if (kind == "none") return base_lr;
  if (kind == "cosine") {
    const double frac = std::clamp(double(step) / double(std::max<std::int64_t>(total_steps, 1)), 0.0, 1.0);
    return static_cast<float>(base_lr * 0.5 * (1.0 + std::cos(std::numbers::pi * frac)));
  }
  if (kind == "exponential") {
    const auto epoch = step / std::max<std::int64_t>(steps_per_epoch, 1);
    return static_cast<float>(base_lr * std::pow(double(gamma), double(epoch)));
  }
  ESYNC_THROW(ConfigError, "unknown --lr-schedule '", kind, "' (expected none, cosine or exponential)");
}

}  // namespace esync
