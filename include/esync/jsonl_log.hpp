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
  // Adds "ev" and "t" (unix seconds) and writes the line.
  void write(const std::string& ev, nlohmann::json fields);

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace esync
