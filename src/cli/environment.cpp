#include "cli/environment.hpp"

#include <cstdlib>
#include <initializer_list>

#include "esync/error.hpp"

namespace esync::cli::env {

namespace {

std::string get(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The first of the variables that is set, as an int; `fallback` when none is.
int first_int(std::initializer_list<const char*> names, int fallback) {
  for (const char* n : names)
    if (const auto v = get(n); !v.empty()) {
      try {
        std::size_t used = 0;
        const int x = std::stoi(v, &used);
        if (used == v.size() && x >= 0) return x;
      } catch (const std::exception&) {
      }
      ESYNC_THROW(ConfigError, n, "='", v, "' is not a non-negative integer");
    }
  return fallback;
}

}  // namespace

std::string token() { return get("ESYNC_TOKEN"); }

std::string required_token() {
  const std::string t = token();
  ESYNC_CHECK_T(ConfigError, !t.empty(),
                "ESYNC_TOKEN is not set (the coordinator prints it, esync run sets it)");
  return t;
}

std::string master() {
  const std::string addr = get("MASTER_ADDR"), port = get("MASTER_PORT");
  return addr.empty() || port.empty() ? "" : addr + ":" + port;
}

int rank(int fallback) { return first_int({"RANK", "SLURM_PROCID"}, fallback); }
int world(int fallback) { return first_int({"WORLD_SIZE", "SLURM_NTASKS"}, fallback); }
int local_rank(int fallback) { return first_int({"LOCAL_RANK", "SLURM_LOCALID"}, fallback); }

}  // namespace esync::cli::env
