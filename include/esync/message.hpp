#pragma once
// A decoded wire message and the send/receive helpers every ZeroMQ peer uses. Frames after the
// header: one JSON body (control) and any number of raw float32 tensor frames, zero-copy on
// send. Receiving validates everything (header, declared vs actual payload size, JSON, tensor
// frame sizes) and throws ProtocolError; it never trusts a length it was sent.
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "esync/wire.hpp"

namespace esync::wire {

struct Message {
  Header header;
  nlohmann::json body = nlohmann::json::object();
  std::vector<zmq::message_t> tensors;  // each a float32 array
  std::string identity;                 // ROUTER side: the peer's routing id
};

struct Limits {
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_tensor_bytes = std::size_t{4} << 30;  // a tensor frame at most the model size
  std::size_t max_tensor_frames = 64;
};

// A message to send; tensor frames may reference caller memory (zero-copy: the caller keeps it
// alive until the send completes, which for ZeroMQ means until the next blocking call returns).
Message make(MsgType type, std::uint64_t job_id, std::uint32_t rank, std::uint64_t round,
             nlohmann::json body = nlohmann::json::object());

void send(zmq::socket_t& s, Message& m);
// Binds a ROUTER server socket (linger 0, unroutable replies dropped) to tcp://bind:port, port 0
// a free one; returns the bound endpoint. ConfigError naming `what` when the address is refused.
// max_frame_bytes > 0: ZeroMQ disconnects a peer whose frame is larger, before it is buffered
// (so a stranger cannot make the server allocate gigabytes); <= 0: no bound.
std::string bind_router(zmq::socket_t& s, const std::string& bind, int port, const std::string& what,
                        std::int64_t max_frame_bytes = 0);
// This host's address on the route to `endpoint` ("tcp://HOST:PORT" or "HOST:PORT"): the
// address peers on that network reach us at. No packet is sent (a UDP connect only picks the
// route); "127.0.0.1" when the host does not resolve.
std::string local_address_towards(const std::string& endpoint);
// Waits up to timeout for one message. nullopt on timeout; ProtocolError if it is malformed
// (the frames are consumed either way, so one bad message never blocks the next).
std::optional<Message> recv(zmq::socket_t& s, std::chrono::milliseconds timeout, bool router,
                            const Limits& limits = {});

}  // namespace esync::wire
