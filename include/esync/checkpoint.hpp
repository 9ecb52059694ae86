#pragma once
// Checkpoints: named float tensors plus a JSON header (config, epoch, step, ...), written
// atomically (temp file, fsync, rename) so a crash mid-write leaves the previous checkpoint
// intact. Format: "ESYNCCK1" | u64 header bytes | header JSON | raw little-endian float32
// tensors in header order | u64 FNV-1a checksum of everything before it.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "esync/optimizer.hpp"

namespace esync {

struct Checkpoint {
  nlohmann::json meta = nlohmann::json::object();
  std::vector<std::pair<std::string, std::vector<float>>> tensors;

  const std::vector<float>& tensor(const std::string& name) const;  // throws IoError if absent
  void save(const std::string& path) const;
  static Checkpoint load(const std::string& path);  // IoError naming the file and the defect
};

// The optimiser's state buffers (tensors named as FlatOptimizer::state() names them) and its
// step count ("opt_steps" in meta), into a checkpoint and back. load_optimizer throws IoError
// naming `where` when a buffer is missing or of another size.
void save_optimizer(Checkpoint& ck, FlatOptimizer& opt);
void load_optimizer(const Checkpoint& ck, FlatOptimizer& opt, const std::string& where);

}  // namespace esync
