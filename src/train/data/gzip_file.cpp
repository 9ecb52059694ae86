// Whole-file gzip reader over zlib. gzread passes non-gzip files through unchanged, so
// uncompressed IDX files work too; a corrupt stream or a truncated file is an IoError.
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "esync/error.hpp"
#include "train/data/dataset.hpp"

namespace esync::train {

std::string read_gzip_file(const std::string& path) {
  std::error_code ec;
  ESYNC_CHECK_T(IoError, std::filesystem::is_regular_file(path, ec), path, ": no such file");
  gzFile f = gzopen(path.c_str(), "rb");
  ESYNC_CHECK_T(IoError, f != nullptr, path, ": cannot open: ", std::strerror(errno));
  gzbuffer(f, 1 << 20);
  std::string out;
  std::vector<char> chunk(1 << 20);
  for (;;) {
    const int got = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got < 0) {
      int code = 0;
      const std::string msg = gzerror(f, &code);
      gzclose(f);
      ESYNC_THROW(IoError, path, ": corrupt gzip data (", msg, ")");
    }
    if (got == 0) break;
    out.append(chunk.data(), static_cast<std::size_t>(got));
  }
  // A gzip stream cut short reads as EOF without error from gzread; gzclose reports it.
  const int rc = gzclose(f);
  ESYNC_CHECK_T(IoError, rc == Z_OK, path, ": truncated or corrupt gzip file (zlib code ", rc, ")");
  return out;
}

}  // namespace esync::train
