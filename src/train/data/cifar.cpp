// CIFAR-10 binary version: records of 1 label byte + 3072 pixel bytes (3 x 32 x 32, planar).
#include <cstring>

#include "esync/error.hpp"
#include "train/data/dataset.hpp"

namespace esync::train {

Split read_cifar_batches(const std::vector<std::string>& files) {
  constexpr std::size_t kPixels = 3 * 32 * 32, kRecord = 1 + kPixels;
  std::vector<std::string> blobs;
  std::int64_t total = 0;
  for (const auto& f : files) {
    blobs.push_back(read_gzip_file(f));
    const auto size = blobs.back().size();
    ESYNC_CHECK_T(IoError, size > 0 && size % kRecord == 0, f, ": ", size,
                  " bytes is not a whole number of 3073-byte CIFAR-10 records (truncated or not CIFAR)");
    total += static_cast<std::int64_t>(size / kRecord);
  }
  auto x = torch::empty({total, 3, 32, 32}, torch::kUInt8);
  auto y = torch::empty({total}, torch::kInt64);
  auto* xp = x.data_ptr<std::uint8_t>();
  auto* yp = y.data_ptr<std::int64_t>();
  std::int64_t i = 0;
  for (std::size_t b = 0; b < blobs.size(); ++b) {
    const auto* p = reinterpret_cast<const unsigned char*>(blobs[b].data());
    for (std::size_t r = 0; r < blobs[b].size() / kRecord; ++r, ++i) {
      const unsigned label = p[r * kRecord];
      ESYNC_CHECK_T(IoError, label < 10, files[b], ": record ", r, " has label ", label, " (expected 0..9)");
      yp[i] = label;
      std::memcpy(xp + i * kPixels, p + r * kRecord + 1, kPixels);
    }
  }
  return {x, y};
}

}  // namespace esync::train
