#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "esync/error.hpp"
#include "esync/wire.hpp"

namespace esync::wire {
namespace {

template <typename T>
void put(std::uint8_t*& p, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) *p++ = static_cast<std::uint8_t>(std::uint64_t(v) >> (8 * i));
}

template <typename T>
T get(const std::uint8_t*& p) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= std::uint64_t(*p++) << (8 * i);
  return static_cast<T>(v);
}

}  // namespace

const char* type_name(MsgType t) {
  static const char* names[] = {"?",        "register",  "welcome",    "reject", "kv_set",  "kv_get",
                                "kv_value", "heartbeat", "report",     "assign", "poll",    "poll_answer",
                                "push",     "pull",      "pull_reply", "ack",    "shutdown"};
  const auto i = static_cast<std::size_t>(t);
  return i < sizeof names / sizeof names[0] ? names[i] : "?";
}

std::array<std::uint8_t, kHeaderBytes> encode(const Header& h) {
  std::array<std::uint8_t, kHeaderBytes> out{};
  std::uint8_t* p = out.data();
  put(p, h.magic);
  put(p, h.version);
  put(p, static_cast<std::uint16_t>(h.type));
  put(p, h.job_id);
  put(p, h.rank);
  put(p, h.round);
  put(p, h.payload_bytes);
  return out;
}

Header decode(std::span<const std::uint8_t> bytes) {
  ESYNC_CHECK_T(ProtocolError, bytes.size() == kHeaderBytes, "header of ", bytes.size(), " bytes (expected ",
                kHeaderBytes, ")");
  const std::uint8_t* p = bytes.data();
  Header h;
  h.magic = get<std::uint32_t>(p);
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08x", h.magic);
  ESYNC_CHECK_T(ProtocolError, h.magic == kMagic, "bad magic ", hex);
  h.version = get<std::uint16_t>(p);
  ESYNC_CHECK_T(ProtocolError, h.version == kVersion, "protocol version ", h.version, " (this build speaks ",
                kVersion, ")");
  const auto type = get<std::uint16_t>(p);
  ESYNC_CHECK_T(ProtocolError, type >= 1 && type <= static_cast<std::uint16_t>(MsgType::kLast),
                "unknown message type ", type);
  h.type = static_cast<MsgType>(type);
  h.job_id = get<std::uint64_t>(p);
  h.rank = get<std::uint32_t>(p);
  h.round = get<std::uint64_t>(p);
  h.payload_bytes = get<std::uint64_t>(p);
  return h;
}

bool token_equal(std::string_view a, std::string_view b) {
  // Length is not secret (tokens have a fixed format); the content is.
  if (a.size() != b.size()) return false;
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string random_token() {
  unsigned char raw[16];
  const int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  ESYNC_CHECK(fd >= 0, "cannot open /dev/urandom for the job token");
  const ssize_t got = ::read(fd, raw, sizeof raw);
  ::close(fd);
  ESYNC_CHECK(got == static_cast<ssize_t>(sizeof raw), "short read from /dev/urandom");
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned char c : raw) {
    s.push_back(hex[c >> 4]);
    s.push_back(hex[c & 15]);
  }
  return s;
}

std::string token_hint(std::string_view token) {
  return std::string(token.substr(0, 4)) + "…(" + std::to_string(token.size()) + " chars)";
}

}  // namespace esync::wire
