#pragma once
// Optional ZeroMQ CURVE (`esync run --curve`): encryption of every ZeroMQ connection and
// authentication of the servers. One keypair per job: the coordinator and every PS shard are
// CURVE servers with its secret key; every client (workers, a shard towards the coordinator)
// knows the job's public key and makes an ephemeral keypair of its own per socket. Clients are
// not authenticated by CURVE (no ZAP handler: any client key is accepted); the job token still
// does that, now inside the encrypted channel.
//
// Keys travel in the environment only, z85-encoded (40 characters), never on a command line and
// never in a log: ESYNC_CURVE_SERVER (the public key, everyone) and ESYNC_CURVE_SECRET (the
// secret key, servers only). ESYNC_CURVE_SERVER unset or empty: CURVE is off, plain TCP as before.
//
// Every socket is secured here, in one place, right before it binds or connects.
#include <string>
#include <utility>
#include <vector>

namespace zmq {
class socket_t;
}

namespace esync::wire {

struct CurveKeys {
  std::string server_public;  // z85; empty: CURVE off
  std::string server_secret;  // z85; only the servers' copy holds it
  bool on() const { return !server_public.empty(); }
};

struct CurveKeypair {
  std::string public_key, secret_key;  // z85, 40 characters each
};

// ConfigError when this libzmq was built without CURVE (zmq_has("curve") false).
void require_curve();
// A fresh keypair (zmq_curve_keypair); ConfigError without CURVE support.
CurveKeypair generate_curve_keypair();
// The keys from ESYNC_CURVE_SERVER / ESYNC_CURVE_SECRET, checked: each a z85 key, CURVE in this
// libzmq, the secret only together with its own public key. ConfigError naming the variable
// (never its value) otherwise. Both unset (or empty): CURVE off.
CurveKeys curve_keys_from_env();
// `base` plus the variables that hand `keys` to a process of the job (what curve_keys_from_env
// reads): ESYNC_CURVE_SERVER to everyone, ESYNC_CURVE_SECRET to servers only (blank for
// clients). Keys off: both blank, which reads as off, so no variable a launcher's shell happens
// to export turns CURVE on behind the launcher's back.
using EnvVars = std::vector<std::pair<std::string, std::string>>;
EnvVars curve_env(const CurveKeypair& keys, bool server, EnvVars base = {});
// Makes s a CURVE server with the job's secret key; nothing when keys are off. ConfigError when
// the keys are on but the secret is missing or does not belong to the public key.
void secure_server(zmq::socket_t& s, const CurveKeys& keys);
// Makes s a CURVE client of the job's servers with an ephemeral keypair; nothing when off.
void secure_client(zmq::socket_t& s, const CurveKeys& keys);
// Appended to a client's "no reply" timeout: a CURVE client with the wrong server key (or a
// plain peer) fails the handshake and ZeroMQ then silently never delivers, so a timeout is the
// only symptom. " (CURVE is on: is ESYNC_CURVE_SERVER the job's key?)" when on, else "".
std::string curve_timeout_hint(bool curve_on);

}  // namespace esync::wire
