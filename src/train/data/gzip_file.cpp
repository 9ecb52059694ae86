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
    // A stream cut short returns its last bytes with Z_BUF_ERROR set; asked right away, as
    // zlib 1.3.2 clears it on the next gzread (1.2.13 kept it for gzclose, checked below).
    int code = Z_OK;
    const std::string msg = gzerror(f, &code);
    if (got < 0 || code != Z_OK) {
      gzclose(f);
      if (code == Z_BUF_ERROR) ESYNC_THROW(IoError, path, ": truncated gzip file (", msg, ")");
      ESYNC_THROW(IoError, path, ": corrupt gzip data (", msg, ")");
    }
    if (got == 0) break;
    out.append(chunk.data(), static_cast<std::size_t>(got));
  }
  const int rc = gzclose(f);
  ESYNC_CHECK_T(IoError, rc == Z_OK, path, ": truncated or corrupt gzip file (zlib code ", rc, ")");
  return out;
}

}  // namespace esync::train
