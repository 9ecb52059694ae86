#pragma once
// Checkpoints: named float tensors plus a JSON header (config, epoch, step, ...), written
// atomically (temp file, fsync, rename) so a crash mid-write leaves the previous checkpoint
// intact. Format: "ESYNCCK1" | u64 header bytes | header JSON | raw little-endian float32
// tensors in header order | u64 FNV-1a checksum of everything before it.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace esync {

struct Checkpoint {
  nlohmann::json meta = nlohmann::json::object();
  std::vector<std::pair<std::string, std::vector<float>>> tensors;

  const std::vector<float>& tensor(const std::string& name) const;  // throws IoError if absent
  void save(const std::string& path) const;
  static Checkpoint load(const std::string& path);  // IoError naming the file and the defect
};

}  // namespace esync
