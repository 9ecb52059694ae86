#pragma once
// The environment variables esync reads, all here: the job token, and the launcher conventions
// of torchrun (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK) and SLURM (SLURM_PROCID,
// SLURM_NTASKS, SLURM_LOCALID), so the same command line works under either. The CURVE keys
// (ESYNC_CURVE_SERVER, ESYNC_CURVE_SECRET) are read and checked by wire::curve_keys_from_env,
// which keeps the secret's whole life in one file.
#include <string>

namespace esync::cli::env {

// ESYNC_TOKEN; "" when unset.
std::string token();
// ESYNC_TOKEN, or ConfigError saying where a job's token comes from.
std::string required_token();
// MASTER_ADDR:MASTER_PORT; "" unless both are set.
std::string master();
// RANK or SLURM_PROCID; WORLD_SIZE or SLURM_NTASKS; LOCAL_RANK or SLURM_LOCALID. `fallback` when
// neither is set; ConfigError for a value that is not a non-negative integer.
int rank(int fallback);
int world(int fallback);
int local_rank(int fallback);

}  // namespace esync::cli::env
