// IDX reader (MNIST, Fashion-MNIST): big-endian header {0, 0, type 0x08 (ubyte), dims} then
// dims big-endian u32 sizes, then the data. Everything is validated against the file length
// before any data is touched.
#include <cstring>

#include "esync/error.hpp"
#include "train/data/dataset.hpp"

namespace esync::train {
namespace {

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

}  // namespace

torch::Tensor read_idx(const std::string& path, int expected_dims) {
  const std::string bytes = read_gzip_file(path);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  ESYNC_CHECK_T(IoError, bytes.size() >= 4, path, ": truncated IDX header (", bytes.size(), " bytes)");
  const std::uint32_t magic = be32(p);
  const std::uint32_t want = 0x0800u | static_cast<std::uint32_t>(expected_dims);
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08x", magic);
  ESYNC_CHECK_T(IoError, magic == want, path, ": bad IDX magic ", hex, " (expected 0x0000080", expected_dims,
                ", unsigned bytes with ", expected_dims, " dimensions)");
  const std::size_t header = 4 + 4 * std::size_t(expected_dims);
  ESYNC_CHECK_T(IoError, bytes.size() >= header, path, ": truncated IDX header");
  std::vector<std::int64_t> shape;
  std::size_t count = 1;
  for (int i = 0; i < expected_dims; ++i) {
    const std::uint32_t d = be32(p + 4 + 4 * i);
    ESYNC_CHECK_T(IoError, d > 0 && d < (1u << 28), path, ": implausible dimension ", i, " = ", d);
    shape.push_back(d);
    count *= d;
  }
  ESYNC_CHECK_T(IoError, bytes.size() - header == count, path, ": header promises ", count,
                " bytes of data but the file holds ", bytes.size() - header,
                bytes.size() - header < count ? " (truncated)" : " (trailing bytes)");
  auto t = torch::empty(shape, torch::kUInt8);
  std::memcpy(t.data_ptr<std::uint8_t>(), p + header, count);
  return t;
}

Split read_idx_pair(const std::string& images, const std::string& labels) {
  auto x = read_idx(images, 3);
  auto y = read_idx(labels, 1);
  ESYNC_CHECK_T(IoError, x.size(0) == y.size(0), images, " holds ", x.size(0), " images but ", labels,
                " holds ", y.size(0), " labels");
  ESYNC_CHECK_T(IoError, y.max().item<int>() < 10, labels, ": label ", y.max().item<int>(),
                " out of range 0..9");
  return {x.unsqueeze(1), y.to(torch::kInt64)};  // [N, 1, H, W] uint8 until normalised
}

}  // namespace esync::train
