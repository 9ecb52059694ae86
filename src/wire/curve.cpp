#include "esync/curve.hpp"

#include <zmq.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <zmq.hpp>

#include "esync/error.hpp"

namespace esync::wire {

namespace {

constexpr std::size_t kZ85Key = 40;  // a 32-byte key in z85

bool is_z85_key(const std::string& s) {
  std::uint8_t bin[32];
  return s.size() == kZ85Key && zmq_z85_decode(bin, s.c_str()) != nullptr;
}

// Overwrites a secret we no longer need (the compiler may not drop a volatile store).
void wipe(std::string& s) {
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A socket option the key checks above make valid; a failure here is a libzmq surprise, still
// reported as configuration (what was being set, never the key).
template <class Opt, class V>
void set(zmq::socket_t& s, Opt opt, const V& v, const char* what) {
  try {
    s.set(opt, v);
  } catch (const zmq::error_t& e) {
    ESYNC_THROW(ConfigError, "CURVE: cannot set ", what, ": ", e.what());
  }
}

}  // namespace

void require_curve() {
  ESYNC_CHECK_T(ConfigError, zmq_has("curve"),
                "CURVE was asked for (--curve / ESYNC_CURVE_SERVER) but this libzmq was built without it "
                "(zmq_has(\"curve\") is false; rebuild libzmq with libsodium or its built-in tweetnacl)");
}

CurveKeypair generate_curve_keypair() {
  require_curve();
  char pub[kZ85Key + 1] = {}, sec[kZ85Key + 1] = {};
  ESYNC_CHECK_T(ConfigError, zmq_curve_keypair(pub, sec) == 0,
                "zmq_curve_keypair failed: ", zmq_strerror(zmq_errno()));
  CurveKeypair k{pub, sec};
  std::fill(sec, sec + sizeof sec, '\0');
  return k;
}

CurveKeys curve_keys_from_env() {
  CurveKeys k{env("ESYNC_CURVE_SERVER"), env("ESYNC_CURVE_SECRET")};
  // A secret alone is a half-configured job: refuse rather than run in the clear unnoticed.
  ESYNC_CHECK_T(ConfigError, k.on() || k.server_secret.empty(),
                "ESYNC_CURVE_SECRET is set but ESYNC_CURVE_SERVER (the job's public key) is not");
  if (!k.on()) return k;
  require_curve();
  ESYNC_CHECK_T(ConfigError, is_z85_key(k.server_public),
                "ESYNC_CURVE_SERVER is not a CURVE key (40 z85 characters, ", k.server_public.size(),
                " given)");
  ESYNC_CHECK_T(ConfigError, k.server_secret.empty() || is_z85_key(k.server_secret),
                "ESYNC_CURVE_SECRET is not a CURVE key (40 z85 characters)");
  return k;
}

EnvVars curve_env(const CurveKeypair& keys, bool server, EnvVars base) {
  base.emplace_back("ESYNC_CURVE_SERVER", keys.public_key);
  base.emplace_back("ESYNC_CURVE_SECRET", server ? keys.secret_key : std::string());
  return base;
}

void secure_server(zmq::socket_t& s, const CurveKeys& keys) {
  if (!keys.on()) return;
  require_curve();
  ESYNC_CHECK_T(ConfigError, is_z85_key(keys.server_public), "the CURVE public key is not 40 z85 characters");
  ESYNC_CHECK_T(ConfigError, !keys.server_secret.empty(),
                "CURVE is on (ESYNC_CURVE_SERVER) but this server has no secret key: set ESYNC_CURVE_SECRET "
                "to the job's");
  ESYNC_CHECK_T(ConfigError, is_z85_key(keys.server_secret), "the CURVE secret key is not 40 z85 characters");
  // Servers that clients could not verify would only show up as timeouts at every client:
  // check here that the secret is the public key's own.
  char derived[kZ85Key + 1] = {};
  ESYNC_CHECK_T(ConfigError, zmq_curve_public(derived, keys.server_secret.c_str()) == 0,
                "zmq_curve_public failed: ", zmq_strerror(zmq_errno()));
  ESYNC_CHECK_T(ConfigError, keys.server_public == derived,
                "ESYNC_CURVE_SECRET does not belong to ESYNC_CURVE_SERVER (keys of two different jobs?)");
  set(s, zmq::sockopt::curve_server, true, "the server role");
  set(s, zmq::sockopt::curve_secretkey, keys.server_secret, "the server secret key");
}

void secure_client(zmq::socket_t& s, const CurveKeys& keys) {
  if (!keys.on()) return;
  require_curve();
  ESYNC_CHECK_T(ConfigError, is_z85_key(keys.server_public), "the CURVE server key is not 40 z85 characters");
  auto mine = generate_curve_keypair();  // ephemeral: this socket's only, never stored
  set(s, zmq::sockopt::curve_serverkey, keys.server_public, "the server public key");
  set(s, zmq::sockopt::curve_publickey, mine.public_key, "the client public key");
  set(s, zmq::sockopt::curve_secretkey, mine.secret_key, "the client secret key");
  wipe(mine.secret_key);  // libzmq keeps its own copy
}

std::string curve_timeout_hint(bool curve_on) {
  return curve_on ? " (CURVE is on: is ESYNC_CURVE_SERVER the job's key?)" : "";
}

}  // namespace esync::wire
