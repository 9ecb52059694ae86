#include "esync/error.hpp"

#include <cstdio>
#include <cstring>

namespace esync {

static std::string basename_of(const char* file) {
  const char* slash = std::strrchr(file, '/');
  return slash ? slash + 1 : file;
}

Error::Error(const std::string& msg, const char* file, int line)
    : std::runtime_error(msg), where_(file && *file ? basename_of(file) + ":" + std::to_string(line) : "") {}

int report_error(const std::string& command, const Error& e) {
  std::fprintf(stderr, "esync %s: %s: %s%s%s%s\n", command.c_str(), e.kind(), e.what(),
               e.where().empty() ? "" : " [", e.where().c_str(), e.where().empty() ? "" : "]");
  std::fflush(stderr);
  return e.exit_code();
}

}  // namespace esync
