#pragma once
// The fuzzer of test_fuzz.cpp: messages built to meet a known fate at the server (so its counters
// can be checked exactly), a seeded generator of defects, and the driver that sends them in
// batches and waits, bounded, for the server's counters and answers to catch up.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "ps_test_util.hpp"

namespace esync::test::fuzz {

using namespace std::chrono_literals;
using T = wire::MsgType;
using u64 = std::uint64_t;

constexpr int kFrames = 100000;
// Sent in batches, each waited for until the server has counted it: nothing is in flight
// uncounted, and the servers' answers never exceed a high-water mark (so none is dropped).
constexpr int kBatch = 500;

enum class Fate { kBadFrame, kRefused, kRejected };  // fails in recv | handler throws | rejected
struct Msg {
  std::vector<std::string> frames;
  Fate fate = Fate::kBadFrame;
  bool answered = false;  // the server replies (always kReject)
  int sock = 0;           // which fuzzer socket sends it
};

inline std::string head(u64 type, u64 job, u64 rank, u64 payload, u64 round = 0) {
  wire::Header h;
  h.type = static_cast<T>(type);  // any 16-bit value, unknown types included
  h.job_id = job;
  h.rank = static_cast<std::uint32_t>(rank);
  h.round = round;
  h.payload_bytes = payload;
  const auto b = wire::encode(h);
  return {b.begin(), b.end()};
}

// A well-formed message (payload_bytes right) whose fate the caller states.
inline Msg msg(u64 type, u64 job, u64 rank, std::string body, Fate fate, bool answered, int sock,
               std::vector<std::string> tensors = {}, u64 round = 0) {
  u64 payload = body.size();
  for (const auto& t : tensors) payload += t.size();
  Msg m{{head(type, job, rank, payload, round), std::move(body)}, fate, answered, sock};
  for (auto& t : tensors) m.frames.push_back(std::move(t));
  return m;
}

// Sends one message's frames; false if the socket's send timeout expired (a server that
// stopped reading fails the test instead of hanging it).
inline bool send(zmq::socket_t& s, const Msg& m) {
  for (std::size_t f = 0; f < m.frames.size(); ++f)
    if (!s.send(zmq::buffer(m.frames[f]),
                f + 1 < m.frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none))
      return false;
  return true;
}

struct Gen {
  std::mt19937_64 rng{0x5eed2024};
  u64 below(u64 n) { return rng() % n; }
  std::string bytes(std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
  }
  // A random JSON object with plausible keys and values of any type (only sent where the
  // server must refuse the message before it reads the body).
  std::string object() {
    static const char* keys[] = {"token", "rank",  "samples", "init",   "n",
                                 "key",   "value", "stop",    "step_s", "wait_ms"};
    static const char* vals[] = {"1",    "-7",    "3.5",        "\"s\"", "null",
                                 "true", "[1,2]", "{\"a\":{}}", "1e308", "\"\""};
    std::string s = "{";
    for (u64 i = 0, k = below(4); i < k; ++i)
      s += (i ? ",\"" : "\"") + std::string(keys[below(10)]) + "\":" + vals[below(10)];
    return s + "}";
  }
  std::string wrong_token(const std::string& good) {
    std::string t = good;
    switch (below(4)) {
      case 0:
        t[below(t.size())] ^= 1;
        return t;  // one bit off, same length
      case 1:
        return t.substr(0, below(t.size()));  // a prefix
      case 2: {                               // random hex, the format of a real token
        std::string h(32, '0');
        for (auto& c : h) c = "0123456789abcdef"[below(16)];
        return h;
      }
      default:
        return "";
    }
  }
  // A defect of the frames themselves: every one fails in wire::recv, before any handler.
  std::vector<std::string> bad_frames() {
    const std::string ok = head(u64(T::kHeartbeat), 1, 0, 2);
    std::string h = ok;
    switch (below(12)) {
      case 0: {  // random bytes, random frame count (a 36-byte first frame gets a wrong magic)
        std::vector<std::string> f(1 + below(4));
        for (auto& x : f) x = bytes(below(80));
        if (f[0].size() == wire::kHeaderBytes && f[0][0] == 'C') f[0][0] = 0;
        return f;
      }
      case 1:
        return {ok.substr(0, below(wire::kHeaderBytes)), "{}"};  // truncated header
      case 2:
        return {ok + bytes(1 + below(8)), "{}"};  // header too long
      case 3:
        h[below(4)] ^= char(1 + below(255));
        return {h, "{}"};  // wrong magic
      case 4:
        h[4] = char(2 + below(250));
        return {h, "{}"};  // wrong version
      case 5:
        return {head(below(2) ? 0 : 17 + below(65519), 1, 0, 2), "{}"};  // unknown type
      case 6: {  // payload_bytes does not match (sometimes absurdly large)
        const u64 lie = below(2) ? 3 + below(1000) : ~u64{0} - below(1000);
        return {head(u64(T::kKvSet), 1, 0, lie), "{}"};
      }
      case 7: {  // a body that is not JSON ("{" then a control character never parses)
        std::string body = "{\x01" + bytes(below(40));
        return {head(u64(T::kKvSet), 1, 0, body.size()), body};
      }
      case 8: {  // JSON, but not an object
        static const char* v[] = {"[]", "1", "\"s\"", "null", "true", "[{}]", "-0.5e3"};
        const std::string body = v[below(7)];
        return {head(u64(T::kRegister), 1, 0, body.size()), body};
      }
      case 9: {  // a tensor frame whose size is not a whole number of float32
        std::string t = bytes(4 * below(8) + 1 + below(3));
        return {head(u64(T::kPush), 1, 0, 2 + t.size()), "{}", t};
      }
      case 10: {  // more tensor frames than any message may carry
        std::vector<std::string> f{head(u64(T::kPush), 1, 0, 2 + 4 * 65), "{}"};
        for (int i = 0; i < 65; ++i) f.push_back(std::string(4, '\0'));
        return f;
      }
      default:  // a body over the 1 MiB limit (rarely: it is big), else a lone header
        if (below(100)) return {ok};
        return {head(u64(T::kKvSet), 1, 0, (1 << 20) + 1), std::string((1 << 20) + 1, ' ')};
    }
  }
  u64 any_type_but_register() { return 2 + below(15); }
};

struct Tally {
  u64 sent = 0, bad = 0, refused = 0, rejected = 0, answers_due = 0, answers = 0, other_replies = 0;
  double seconds = 0;
};

// Sends kFrames messages from make() over socks; after each batch waits (bounded) until the
// server's counters() == {malformed, rejected} and its answers have caught up.
template <class Make, class Counters>
Tally run_fuzz(std::vector<zmq::socket_t>& socks, Make make, Counters counters) {
  Tally t;
  const auto [m0, r0] = counters();
  const auto start = std::chrono::steady_clock::now();
  auto clock = [&] {
    t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  while (t.sent < kFrames) {
    for (int i = 0; i < kBatch && t.sent < kFrames; ++i, ++t.sent) {
      const Msg m = make();
      if (!send(socks[m.sock], m)) {
        ADD_FAILURE() << "the server stopped reading: a send timed out after " << t.sent << " messages";
        return clock(), t;
      }
      (m.fate == Fate::kBadFrame ? t.bad : m.fate == Fate::kRefused ? t.refused : t.rejected)++;
      t.answers_due += m.answered;
    }
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    for (;;) {
      std::vector<zmq::pollitem_t> items;
      for (auto& s : socks) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
      zmq::poll(items.data(), items.size(), 1ms);
      for (auto& s : socks)
        while (auto r = wire::recv(s, 0ms, /*router=*/false))
          (r->header.type == T::kReject ? t.answers : t.other_replies)++;
      const auto [m, r] = counters();
      if (m - m0 == t.bad + t.refused && r - r0 == t.rejected && t.answers == t.answers_due) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "counters stuck after " << t.sent << " messages: malformed " << m - m0 << " of "
                      << t.bad + t.refused << ", rejected " << r - r0 << " of " << t.rejected << ", answers "
                      << t.answers << " of " << t.answers_due;
        return clock(), t;
      }
    }
  }
  return clock(), t;
}

inline std::vector<zmq::socket_t> fuzz_sockets(zmq::context_t& ctx, const std::string& endpoint, int count) {
  std::vector<zmq::socket_t> socks;
  for (int i = 0; i < count; ++i) {
    socks.emplace_back(ctx, zmq::socket_type::dealer);
    socks.back().set(zmq::sockopt::linger, 0);
    socks.back().set(zmq::sockopt::sndtimeo, 20000);  // a server that stopped reading fails, never hangs
    socks.back().set(zmq::sockopt::rcvhwm, 0);        // answers are never dropped on our side
    socks.back().connect(endpoint);
  }
  return socks;
}

inline std::string fmt(const char* f, int a, int b, int c = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

inline void wait_until(const std::atomic<bool>& flag, std::chrono::milliseconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!flag && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
}

inline void print(const char* where, const Tally& t, u64 malformed, u64 rejected) {
  std::printf(
      "fuzz %s: %llu frames sent (%llu bad frames, %llu refused, %llu with a wrong token or rank); "
      "counted malformed %llu, rejected %llu; %llu answers; %.2f s, %.0f frames/s\n",
      where, (unsigned long long)t.sent, (unsigned long long)t.bad, (unsigned long long)t.refused,
      (unsigned long long)t.rejected, (unsigned long long)malformed, (unsigned long long)rejected,
      (unsigned long long)t.answers, t.seconds, double(t.sent) / std::max(t.seconds, 1e-9));
}

// Prints the figures, then checks the exact accounting: every message sent, each counted once
// under the counter its fate names, every answer a kReject.
inline void expect_counted(const char* where, const Tally& t, u64 malformed, u64 rejected) {
  print(where, t, malformed, rejected);
  EXPECT_EQ(t.sent, u64(kFrames));
  EXPECT_EQ(malformed, t.bad + t.refused);
  EXPECT_EQ(rejected, t.rejected);
  EXPECT_EQ(t.answers, t.answers_due);
  EXPECT_EQ(t.other_replies, 0u);
}

// Captures the process's stderr (fd 2) into a file of a fresh temp directory until restore();
// text() reads it. The directory goes away with the object.
struct CaptureStderr {
  explicit CaptureStderr(const std::string& name) : dir(temp_dir(name)) {
    std::fflush(stderr);
    saved = ::dup(2);
    const int fd = ::open((dir / "stderr.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  void restore() {
    if (saved < 0) return;
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    saved = -1;
  }
  ~CaptureStderr() {
    restore();
    std::filesystem::remove_all(dir);
  }
  std::string text() const {
    std::ifstream in(dir / "stderr.txt");
    std::stringstream all;
    all << in.rdbuf();
    return all.str();
  }
  std::filesystem::path dir;
  int saved = -1;
};

}  // namespace esync::test::fuzz
