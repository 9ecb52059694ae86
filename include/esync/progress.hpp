#pragma once
// Progress for long work: a one-line bar redrawn in place on a terminal (samples/s, loss, ETA),
// plain periodic lines when stderr is not a TTY (logs, CI). Redraws are rate-limited so the
// training loop never waits on the terminal.
#include <cstdint>
#include <string>

namespace esync {

// On a terminal: back to the line's start and clear it, before a line is drawn in place.
inline constexpr const char* kClearLine = "\r\033[K";

class Progress {
 public:
  // total: units of work (samples); label: shown first on the line.
  Progress(std::string label, std::int64_t total, double plain_interval_s = 10.0);
  // done: units finished so far; extra: short text such as "loss 0.412".
  void update(std::int64_t done, const std::string& extra = "");
  // Prints a final line (always, TTY or not) and ends the bar's line.
  void finish(const std::string& extra = "");
  static std::string format_duration(double s);
  // The bar and its percentage, "[#####...................]  21%": frac of `width` cells, floored
  // (full only when done). Every progress line draws it this way (`esync local`, `esync run`).
  static std::string bar(double frac, int width = 24);

 private:
  std::string line(std::int64_t done, const std::string& extra, double now) const;
  std::string label_;
  std::int64_t total_;
  double interval_;
  bool tty_;
  double start_, last_draw_ = -1e9;
  std::int64_t last_done_ = 0;
};

}  // namespace esync
