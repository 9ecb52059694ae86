#pragma once
// JSONL event log: LOGDIR/<role>-<rank>.jsonl, one JSON object a line, each line
// written with one write(2) so a killed process loses nothing already logged and a reader never
// sees half a line. A default-constructed log is disabled and costs nothing.
#include <nlohmann/json.hpp>
#include <string>

namespace esync {

class JsonlLog {
 public:
  JsonlLog() = default;
  // Creates the directory if needed; truncates an existing file unless append is set.
  JsonlLog(const std::string& dir, const std::string& role, int rank, bool append = false);
  ~JsonlLog();
  JsonlLog(JsonlLog&& o) noexcept;
  JsonlLog& operator=(JsonlLog&& o) noexcept;
  JsonlLog(const JsonlLog&) = delete;
  JsonlLog& operator=(const JsonlLog&) = delete;

  bool enabled() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // Writes one event of log_events.hpp: its keys, "ev" (E::kName) and "t" (unix seconds).
  template <class E>
  void write(const E& event) {
    if (enabled()) write_line(E::kName, nlohmann::json(event));
  }
  // Adds "ev" and "t" and writes the line; events go through write(event), which spells the
  // name and keys of each in one place.
  void write_line(const std::string& ev, nlohmann::json fields);

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace esync
