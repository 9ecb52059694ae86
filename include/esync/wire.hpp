#pragma once
// Wire protocol. Every message is a multipart ZeroMQ message: frame 0 is a fixed
// 36-byte little-endian header, then payload frames (JSON for control messages, raw float32 for
// tensors). Encoding is explicit byte by byte (no struct memcpy, so no padding or host order
// leaks onto the wire); decoding validates magic, version, type and sizes before anything else
// is touched and throws ProtocolError, which receivers count, log and drop.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace esync::wire {

constexpr std::uint32_t kMagic = 0x45535943;  // "ESYC"
constexpr std::uint16_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 36;

enum class MsgType : std::uint16_t {
  kRegister = 1,  // worker -> coordinator: {token, device, host, rank?}
  kWelcome,       // coordinator -> worker: {rank, world, config}
  kReject,        // either way: {error}
  kKvSet,         // {key, value}
  kKvGet,         // {key, wait_ms}
  kKvValue,       // {key, value | missing}
  kHeartbeat,     // {}
  kReport,        // worker -> coordinator after a round or step: {k, step_s, round_start}
  kAssign,        // coordinator -> worker: {k}
  kPoll,          // worker -> coordinator, poll policy: "ready?"
  kPollAnswer,    // {ready}
  kPush,          // worker -> PS shard: tensor frame
  kPull,          // worker -> PS shard
  kPullReply,     // PS shard -> worker: tensor frame
  kAck,           // generic acknowledgement
  kShutdown,      // {reason}
  kLast = kShutdown,
};

const char* type_name(MsgType t);

struct Header {
  std::uint32_t magic = kMagic;
  std::uint16_t version = kVersion;
  MsgType type = MsgType::kHeartbeat;
  std::uint64_t job_id = 0;
  std::uint32_t rank = 0;
  std::uint64_t round = 0;
  std::uint64_t payload_bytes = 0;  // sum of the sizes of the frames after the header
};

std::array<std::uint8_t, kHeaderBytes> encode(const Header& h);
// Throws ProtocolError naming the defect: wrong size, magic, version or type.
Header decode(std::span<const std::uint8_t> bytes);

// Constant-time comparison of the job token (no early exit on the first differing byte, so
// response timing does not leak how much of a guess was right).
bool token_equal(std::string_view a, std::string_view b);
// 32 hex characters from the kernel's random source.
std::string random_token();
// The first 4 characters and the length, for logs: a token is never logged in full.
std::string token_hint(std::string_view token);

}  // namespace esync::wire
