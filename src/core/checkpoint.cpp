#include "esync/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "esync/error.hpp"

namespace esync {
namespace {

constexpr char kMagic[8] = {'E', 'S', 'Y', 'N', 'C', 'C', 'K', '1'};

struct Fnv1a {
  std::uint64_t h = 1469598103934665603ull;
  void add(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
};

void write_all(int fd, const void* p, std::size_t n, const std::string& path, Fnv1a* sum) {
  if (sum) sum->add(p, n);
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    ESYNC_CHECK_T(IoError, w > 0, "cannot write checkpoint ", path, ": ", std::strerror(errno));
    c += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

const std::vector<float>& Checkpoint::tensor(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  ESYNC_THROW(IoError, "checkpoint has no tensor '", name, "'");
}

void Checkpoint::save(const std::string& path) const {
  nlohmann::json header = meta;
  header["tensors"] = nlohmann::json::array();
  for (const auto& [name, t] : tensors) header["tensors"].push_back({{"name", name}, {"numel", t.size()}});
  const std::string h = header.dump();
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ESYNC_CHECK_T(IoError, fd >= 0, "cannot create checkpoint ", tmp, ": ", std::strerror(errno));
  try {
    Fnv1a sum;
    const std::uint64_t hlen = h.size();
    write_all(fd, kMagic, sizeof kMagic, tmp, &sum);
    write_all(fd, &hlen, sizeof hlen, tmp, &sum);
    write_all(fd, h.data(), h.size(), tmp, &sum);
    for (const auto& [name, t] : tensors) write_all(fd, t.data(), t.size() * sizeof(float), tmp, &sum);
    write_all(fd, &sum.h, sizeof sum.h, tmp, nullptr);
    ESYNC_CHECK_T(IoError, ::fsync(fd) == 0, "cannot fsync checkpoint ", tmp, ": ", std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  // rename() is atomic: readers see the old checkpoint or the new one, never a torn one.
  ESYNC_CHECK_T(IoError, std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename ", tmp, " to ", path,
                ": ", std::strerror(errno));
}

Checkpoint Checkpoint::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ESYNC_CHECK_T(IoError, in.good(), path, ": cannot open checkpoint: ", std::strerror(errno));
  const auto fsize = std::filesystem::file_size(path);
  ESYNC_CHECK_T(IoError, fsize >= sizeof kMagic + 16, path, ": not a checkpoint (", fsize, " bytes)");
  std::string bytes(fsize, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(fsize));
  ESYNC_CHECK_T(IoError, in.good(), path, ": short read");
  ESYNC_CHECK_T(IoError, std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0, path,
                ": not an esync checkpoint (bad magic)");
  Fnv1a sum;
  sum.add(bytes.data(), fsize - 8);
  std::uint64_t stored;
  std::memcpy(&stored, bytes.data() + fsize - 8, 8);
  ESYNC_CHECK_T(IoError, stored == sum.h, path, ": checkpoint is corrupt (checksum mismatch)");
  std::uint64_t hlen;
  std::memcpy(&hlen, bytes.data() + sizeof kMagic, 8);
  std::size_t off = sizeof kMagic + 8;
  ESYNC_CHECK_T(IoError, hlen <= fsize - off - 8, path, ": checkpoint header size out of range");
  Checkpoint ck;
  try {
    ck.meta = nlohmann::json::parse(bytes.substr(off, hlen));
  } catch (const std::exception& e) {
    ESYNC_THROW(IoError, path, ": checkpoint header is not valid JSON");
  }
  off += hlen;
  for (const auto& t : ck.meta.at("tensors")) {
    const std::size_t numel = t.at("numel").get<std::size_t>();
    ESYNC_CHECK_T(IoError, numel <= (fsize - 8 - off) / sizeof(float), path, ": tensor ",
                  t.at("name").get<std::string>(), " runs past the end of the file");
    std::vector<float> v(numel);
    std::memcpy(v.data(), bytes.data() + off, numel * sizeof(float));
    off += numel * sizeof(float);
    ck.tensors.emplace_back(t.at("name").get<std::string>(), std::move(v));
  }
  ESYNC_CHECK_T(IoError, off == fsize - 8, path, ": checkpoint has ", fsize - 8 - off, " trailing bytes");
  ck.meta.erase("tensors");
  return ck;
}

void save_optimizer(Checkpoint& ck, FlatOptimizer& opt) {
  for (auto& [name, buf] : opt.state()) ck.tensors.emplace_back(name, buf->to_host());
  ck.meta["opt_steps"] = opt.steps();
}

void load_optimizer(const Checkpoint& ck, FlatOptimizer& opt, const std::string& where) {
  for (auto& [name, buf] : opt.state()) {
    const auto& saved = ck.tensor(name);
    ESYNC_CHECK_T(IoError, saved.size() == buf->size(), where, ": optimizer state ", name, " has ",
                  saved.size(), " values, the optimiser ", buf->size());
    buf->from_host(saved);
  }
  opt.set_steps(ck.meta.at("opt_steps").get<std::int64_t>());
}

}  // namespace esync
