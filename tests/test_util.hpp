#pragma once
// Helpers shared by the test files.
#include <unistd.h>

#include <filesystem>
#include <string>

namespace esync::test {

// A fresh, empty directory under the system temp dir, unique to this process and name.
inline std::filesystem::path temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("esync-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace esync::test
