// gloo's rendezvous store (and the NCCL unique id) over the coordinator's key-value messages,
// so collectives need no side channel: every peer already talks to the state server. Values
// travel hex-encoded inside the JSON body (they are a few hundred bytes at most).
#include "esync/coord_store.hpp"

#include "esync/error.hpp"

namespace esync::coord {

CoordStore::CoordStore(std::shared_ptr<CoordinatorClient> client) : client_(std::move(client)) {}

void CoordStore::set(const std::string& key, const std::vector<char>& value) {
  static const char* hex = "0123456789abcdef";
  std::string s;
  s.reserve(value.size() * 2);
  for (char c : value) {
    s.push_back(hex[static_cast<unsigned char>(c) >> 4]);
    s.push_back(hex[static_cast<unsigned char>(c) & 15]);
  }
  client_->kv_set(key, s);
}

std::vector<char> CoordStore::get(const std::string& key, std::chrono::milliseconds timeout) {
  const std::string s = client_->kv_get(key, timeout);
  ESYNC_CHECK_T(ProtocolError, s.size() % 2 == 0, "store value of '", key, "' is not hex");
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    ESYNC_THROW(ProtocolError, "store value of '", key, "' is not hex");
  };
  std::vector<char> out(s.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]));
  return out;
}

}  // namespace esync::coord
