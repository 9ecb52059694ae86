#pragma once
// Helpers shared by the performance model's tests (test_simulate.cpp, test_calibrate.cpp).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "esync/simulate.hpp"

namespace sim_test {

using esync::sim::Calibration;
using esync::sim::SimConfig;

// Devices with the given mean step times, no communication, no overhead.
inline Calibration ideal(const std::vector<double>& steps, double cv = 0.0) {
  Calibration c;
  for (std::size_t i = 0; i < steps.size(); ++i)
    c.classes.push_back({std::string("c").append(std::to_string(i)), 1.0, steps[i], cv});
  c.base_step_s = steps.empty() ? 1.0 : steps[0], c.base_cv = cv;
  c.model_bytes = 0, c.latency_s = 0, c.server_service_s = 0, c.round_overhead_s = 0;
  return c;
}

inline SimConfig config(const std::string& mode, int workers, std::int64_t rounds = 200) {
  SimConfig s;
  s.mode = mode, s.workers = workers, s.rounds = rounds;
  return s;
}

// The committed demo summary the calibration tests read.
inline nlohmann::json demo() {
  std::ifstream f(std::string(ESYNC_SOURCE_DIR) + "/results/demo/logs.summary.json");
  EXPECT_TRUE(f.good());
  return nlohmann::json::parse(f);
}

}  // namespace sim_test
