#include "esync/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "esync/clock.hpp"

namespace esync {

Progress::Progress(std::string label, std::int64_t total, double plain_interval_s)
    : label_(std::move(label)),
      total_(std::max<std::int64_t>(total, 1)),
      interval_(plain_interval_s),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(mono_s()) {}

std::string Progress::format_duration(double s) {
  if (s < 0 || s > 1e7) return "--:--";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

std::string Progress::bar(double frac, int width) {
  frac = std::clamp(frac, 0.0, 1.0);
  std::string out(static_cast<std::size_t>(width) + 2, '.');
  out.front() = '[', out.back() = ']';
  std::fill_n(out.begin() + 1, static_cast<int>(frac * width), '#');
  char pct[8];
  std::snprintf(pct, sizeof pct, " %3.0f%%", frac * 100);
  return out + pct;
}

std::string Progress::line(std::int64_t done, const std::string& extra, double now) const {
  const double el = now - start_;
  const double rate = el > 0 ? double(done) / el : 0.0;
  const double frac = std::min(1.0, double(done) / double(total_));
  const double eta = rate > 0 ? double(total_ - done) / rate : -1;
  char buf[256];
  if (tty_) {
    std::snprintf(buf, sizeof buf, "%s %s %.0f samples/s %s ETA %s", label_.c_str(), bar(frac).c_str(), rate,
                  extra.c_str(), format_duration(eta).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%s %5.1f%% %lld/%lld %.0f samples/s %s elapsed %s ETA %s", label_.c_str(),
                  frac * 100, static_cast<long long>(done), static_cast<long long>(total_), rate,
                  extra.c_str(), format_duration(el).c_str(), format_duration(eta).c_str());
  }
  return buf;
}

void Progress::update(std::int64_t done, const std::string& extra) {
  last_done_ = done;
  const double now = mono_s();
  if (now - last_draw_ < (tty_ ? 0.2 : interval_)) return;
  last_draw_ = now;
  if (tty_)
    std::fprintf(stderr, "%s%s", kClearLine, line(done, extra, now).c_str());
  else
    std::fprintf(stderr, "%s\n", line(done, extra, now).c_str());
  std::fflush(stderr);
}

void Progress::finish(const std::string& extra) {
  const double now = mono_s();
  std::fprintf(stderr, "%s%s\n", tty_ ? kClearLine : "", line(last_done_, extra, now).c_str());
  std::fflush(stderr);
}

}  // namespace esync
