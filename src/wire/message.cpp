#include "esync/message.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zmq_addon.hpp>

#include "esync/error.hpp"

namespace esync::wire {

Message make(MsgType type, std::uint64_t job_id, std::uint32_t rank, std::uint64_t round,
             nlohmann::json body) {
  Message m;
  m.header.type = type;
  m.header.job_id = job_id;
  m.header.rank = rank;
  m.header.round = round;
  m.body = std::move(body);
  return m;
}

std::string bind_router(zmq::socket_t& s, const std::string& bind, int port, const std::string& what,
                        std::int64_t max_frame_bytes) {
  s.set(zmq::sockopt::linger, 0);
  if (max_frame_bytes > 0) s.set(zmq::sockopt::maxmsgsize, max_frame_bytes);
  s.set(zmq::sockopt::router_mandatory, 0);
  const std::string ep = "tcp://" + bind + ":" + (port ? std::to_string(port) : "*");
  try {
    s.bind(ep);
  } catch (const zmq::error_t& e) {
    ESYNC_THROW(ConfigError, "cannot bind ", what, " to ", ep, ": ", e.what());
  }
  return s.get(zmq::sockopt::last_endpoint);
}

std::string local_address_towards(const std::string& endpoint) {
  std::string hp = endpoint.rfind("tcp://", 0) == 0 ? endpoint.substr(6) : endpoint;
  const auto colon = hp.rfind(':');
  const std::string host = hp.substr(0, colon),
                    port = colon == std::string::npos ? "9" : hp.substr(colon + 1);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) return "127.0.0.1";
  std::string out = "127.0.0.1";
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in me{};
  socklen_t len = sizeof me;
  char buf[INET_ADDRSTRLEN] = {};
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len) == 0 &&
      inet_ntop(AF_INET, &me.sin_addr, buf, sizeof buf))
    out = buf;
  if (fd >= 0) ::close(fd);
  freeaddrinfo(res);
  return out;
}

void send(zmq::socket_t& s, Message& m) {
  const std::string body = m.body.dump();
  std::uint64_t payload = body.size();
  for (const auto& t : m.tensors) payload += t.size();
  m.header.payload_bytes = payload;
  const auto head = encode(m.header);
  if (!m.identity.empty()) s.send(zmq::buffer(m.identity), zmq::send_flags::sndmore);
  s.send(zmq::buffer(head), zmq::send_flags::sndmore);
  s.send(zmq::buffer(body), m.tensors.empty() ? zmq::send_flags::none : zmq::send_flags::sndmore);
  for (std::size_t i = 0; i < m.tensors.size(); ++i)
    s.send(m.tensors[i], i + 1 < m.tensors.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

std::optional<Message> recv(zmq::socket_t& s, std::chrono::milliseconds timeout, bool router,
                            const Limits& limits) {
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  try {
    if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return std::nullopt;  // a signal (Ctrl-C): let the caller check its stop flag
    throw;
  }
  std::vector<zmq::message_t> frames;
  const auto got = zmq::recv_multipart(s, std::back_inserter(frames), zmq::recv_flags::dontwait);
  if (!got) return std::nullopt;
  Message m;
  std::size_t i = 0;
  if (router) {
    ESYNC_CHECK_T(ProtocolError, !frames.empty(), "message without routing id");
    m.identity = frames[0].to_string();
    i = 1;
  }
  ESYNC_CHECK_T(ProtocolError, frames.size() >= i + 2, "message of ", frames.size() - i,
                " frames (need a header and a body)");
  m.header = decode({frames[i].data<std::uint8_t>(), frames[i].size()});
  const auto& body = frames[i + 1];
  ESYNC_CHECK_T(ProtocolError, body.size() <= limits.max_body_bytes, "body of ", body.size(),
                " bytes exceeds the limit");
  const std::size_t ntensors = frames.size() - i - 2;
  ESYNC_CHECK_T(ProtocolError, ntensors <= limits.max_tensor_frames, ntensors,
                " tensor frames exceed the limit");
  std::uint64_t payload = body.size();
  for (std::size_t t = i + 2; t < frames.size(); ++t) {
    ESYNC_CHECK_T(ProtocolError,
                  frames[t].size() % sizeof(float) == 0 && frames[t].size() <= limits.max_tensor_bytes,
                  "tensor frame of ", frames[t].size(), " bytes (not float32, or larger than the model)");
    payload += frames[t].size();
  }
  ESYNC_CHECK_T(ProtocolError, payload == m.header.payload_bytes, "header declares ", m.header.payload_bytes,
                " payload bytes but ", payload, " arrived");
  try {
    m.body = body.size() ? nlohmann::json::parse(body.to_string_view()) : nlohmann::json::object();
  } catch (const std::exception&) {
    ESYNC_THROW(ProtocolError, "body of a ", type_name(m.header.type), " message is not JSON");
  }
  ESYNC_CHECK_T(ProtocolError, m.body.is_object(), "body of a ", type_name(m.header.type),
                " message is not an object");
  for (std::size_t t = i + 2; t < frames.size(); ++t) m.tensors.push_back(std::move(frames[t]));
  return m;
}

}  // namespace esync::wire
