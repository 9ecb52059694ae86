#pragma once
// Helpers shared by the test files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <exception>
#include <filesystem>
#include <latch>
#include <string>
#include <thread>
#include <vector>

namespace esync::test {

// A fresh, empty directory under the system temp dir, unique to this process and name.
inline std::filesystem::path temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("esync-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// Runs body(rank) on `size` threads; returns each rank's exception (null where it succeeded).
template <typename Body>
std::vector<std::exception_ptr> run_threads(int size, Body body) {
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(size));
  std::vector<std::thread> ranks;
  for (int r = 0; r < size; ++r)
    ranks.emplace_back([&, r] {
      try {
        body(r);
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : ranks) t.join();
  return errors;
}

// Fails the test once for every rank that threw, naming the rank and its error.
inline void expect_no_rank_errors(const std::vector<std::exception_ptr>& errors) {
  for (std::size_t r = 0; r < errors.size(); ++r) {
    if (!errors[r]) continue;
    try {
      std::rethrow_exception(errors[r]);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "rank " << r << ": " << e.what();
    }
  }
}

// Collectives as threads: make(rank) builds rank r's collective, body(collective) runs on it.
// All ranks finish their work before any tears down (gloo closes sockets with a reset, and an
// early close could discard bytes a slower rank has not read yet).
template <typename Make, typename Body>
std::vector<std::exception_ptr> run_collective_ranks(int size, Make make, Body body) {
  std::latch done(size);
  return run_threads(size, [&](int r) {
    std::exception_ptr failed;
    try {
      auto c = make(r);
      try {
        body(*c);
      } catch (...) {
        failed = std::current_exception();
      }
      done.arrive_and_wait();
    } catch (...) {
      done.count_down();
      throw;
    }
    if (failed) std::rethrow_exception(failed);
  });
}

}  // namespace esync::test
