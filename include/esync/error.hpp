#pragma once
// One error policy for the whole project: typed exceptions thrown through ESYNC_CHECK /
// ESYNC_THROW (and CUDA_CHECK / NCCL_CHECK in the CUDA code) that carry file:line. Each
// subcommand catches once at the top, prints one line and exits with exit_code().
#include <sstream>
#include <stdexcept>
#include <string>

namespace esync {

class Error : public std::runtime_error {
 public:
  Error(const std::string& msg, const char* file = "", int line = 0);
  // Where it was thrown, "file.cpp:42", for the end of the one-line report.
  const std::string& where() const { return where_; }
  virtual int exit_code() const { return 1; }
  virtual const char* kind() const { return "error"; }

 private:
  std::string where_;
};

// Bad flags, bad configuration: exit 2.
class ConfigError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 2; }
  const char* kind() const override { return "config error"; }
};

// Missing, unreadable or corrupt input files: exit 2.
class IoError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 2; }
  const char* kind() const override { return "io error"; }
};

class ProtocolError : public Error {
 public:
  using Error::Error;
  const char* kind() const override { return "protocol error"; }
};

class TimeoutError : public Error {
 public:
  using Error::Error;
  const char* kind() const override { return "timeout"; }
};

class PeerLostError : public Error {
 public:
  using Error::Error;
  const char* kind() const override { return "peer lost"; }
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

// Prints "esync <cmd>: <kind>: <message> [file:line]" on stderr and returns the exit code.
int report_error(const std::string& command, const Error& e);

}  // namespace esync

#define ESYNC_THROW(Type, ...) throw Type(::esync::detail::concat(__VA_ARGS__), __FILE__, __LINE__)
#define ESYNC_CHECK(cond, ...)                             \
  do {                                                     \
    if (!(cond)) ESYNC_THROW(::esync::Error, __VA_ARGS__); \
  } while (0)
#define ESYNC_CHECK_T(Type, cond, ...)           \
  do {                                           \
    if (!(cond)) ESYNC_THROW(Type, __VA_ARGS__); \
  } while (0)
