#include "esync/jsonl_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "esync/clock.hpp"
#include "esync/error.hpp"

namespace esync {

JsonlLog::JsonlLog(const std::string& dir, const std::string& role, int rank, bool append) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ESYNC_CHECK_T(IoError, !ec, "cannot create log directory ", dir, ": ", ec.message());
  path_ = (std::filesystem::path(dir) / (role + "-" + std::to_string(rank) + ".jsonl")).string();
  // O_APPEND: every write lands at the end in one piece, even with a concurrent reader.
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (append ? 0 : O_TRUNC), 0644);
  ESYNC_CHECK_T(IoError, fd_ >= 0, "cannot open log ", path_, ": ", std::strerror(errno));
}

JsonlLog::~JsonlLog() {
  if (fd_ >= 0) ::close(fd_);
}

JsonlLog::JsonlLog(JsonlLog&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }

JsonlLog& JsonlLog::operator=(JsonlLog&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

void JsonlLog::write_line(const std::string& ev, nlohmann::json fields) {
  if (fd_ < 0) return;
  nlohmann::json line = {{"ev", ev}, {"t", unix_s()}};
  line.update(fields);
  std::string s = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  s.push_back('\n');
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    const ssize_t w = ::write(fd_, p, left);
    if (w < 0 && errno == EINTR) continue;
    ESYNC_CHECK_T(IoError, w > 0, "cannot write log ", path_, ": ", std::strerror(errno));
    p += w;
    left -= static_cast<std::size_t>(w);
  }
}

}  // namespace esync
