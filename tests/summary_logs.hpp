#pragma once
// Synthetic job logs for the summariser's tests: events shaped like the worker's, coordinator's
// and shard's (src/train/worker.cpp, src/coord/coordinator.cpp, src/ps/server.cpp), with binary
// fractions for times so that every sum in the summary is exact.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace esync::test {

namespace fs = std::filesystem;
using nlohmann::json;

inline void write_log(const fs::path& dir, const std::string& name, const std::vector<json>& events,
                      const std::string& tail = "") {
  std::ofstream f(dir / name);
  for (const auto& e : events) f << e.dump() << "\n";
  f << tail;
}

inline json sync_ev(double t, int round, int k, double compute, double comm, double wait, double injected,
                    double sent, double recv, int staleness) {
  return {{"ev", "sync"},         {"t", t},
          {"round", round},       {"k_done", k},
          {"k_assigned", k},      {"comm_s", comm},
          {"wait_s", wait},       {"bytes_sent", sent},
          {"bytes_recv", recv},   {"staleness", staleness},
          {"compute_s", compute}, {"injected_s", injected},
          {"samples", 64.0 * k}};
}

inline json eval_ev(double wall, double samples, double acc) {
  return {{"ev", "eval"},   {"t", 2000.0}, {"round", 1},       {"epoch", 0.5}, {"samples_seen", samples},
          {"wall_s", wall}, {"acc", acc},  {"loss", 1.0 - acc}};
}

inline json start_ev(int rank, int world, const std::string& mode) {
  return {{"ev", "start"},
          {"t", 1000.0},
          {"rank", rank},
          {"world", world},
          {"host", "h" + std::to_string(rank)},
          {"device", "cpu"},
          {"mode", mode},
          {"config", {{"mode", mode}, {"dataset", "fashion-mnist"}}}};
}

inline json end_ev(double t, double samples, double steps, double train_wall, double wall, double rate) {
  return {{"ev", "end"},
          {"t", t},
          {"status", "ok"},
          {"summary",
           {{"samples", samples},
            {"steps", steps},
            {"train_wall_s", train_wall},
            {"wall_s", wall},
            {"samples_per_s", rate}}}};
}

// Two workers: rank 0 finished (training started at 1013.5 - 4.5 = 1009), rank 1 was killed
// mid-line after three rounds; a coordinator that assigned K; rank 0's evaluations.
inline fs::path make_esync_run(const std::string& name) {
  const fs::path dir = temp_dir(name) / "esync";
  fs::create_directories(dir);
  const int ks[] = {4, 8, 8, 6}, stale[] = {0, 1, 1, 4};
  std::vector<json> w0 = {start_ev(0, 2, "esync"), eval_ev(0.0, 0, 0.1)};
  for (int r = 0; r < 4; ++r)
    w0.push_back(sync_ev(1010.0 + r, r, ks[r], 0.5, 0.25, 0.125, 0.125, 100, 200, stale[r]));
  for (const auto& e : {eval_ev(1.5, 1000, 0.82), eval_ev(2.5, 1500, 0.86), eval_ev(3.5, 2000, 0.88)})
    w0.push_back(e);
  w0.push_back(end_ev(1013.5, 1664, 26, 4.0, 4.5, 416.0));
  write_log(dir, "worker-0.jsonl", w0);
  std::vector<json> w1 = {start_ev(1, 2, "esync")};
  for (int r = 0; r < 3; ++r) w1.push_back(sync_ev(1010.5 + r, r, 2, 0.25, 0.5, 0.0, 0.25, 50, 50, 2));
  write_log(dir, "worker-1.jsonl", w1, R"({"ev":"sync","round":3,"k_do)");
  std::vector<json> co = {{{"ev", "start"}, {"t", 999.0}, {"job", {{"mode", "esync"}}}}};
  for (int r = 0; r < 4; ++r) {
    co.push_back(
        {{"ev", "assign"}, {"t", 1009.0 + r}, {"rank", 0}, {"round", r}, {"k", ks[r]}, {"step_s", 0.125}});
    co.push_back({{"ev", "assign"}, {"t", 1009.0 + r}, {"rank", 1}, {"round", r}, {"k", 2}});
  }
  co.push_back({{"ev", "lost"}, {"t", 1014.0}, {"rank", 1}, {"host", "h1"}, {"silent_s", 2.0}});
  co.push_back({{"ev", "end"}, {"t", 1015.0}, {"status", "ok"}});
  write_log(dir, "coordinator-0.jsonl", co);
  write_log(dir, "job.json", {{{"not", "a log"}}});
  return dir;
}

inline bool has_warning(const json& s, const std::string& part) {
  for (const auto& w : s["warnings"])
    if (w.get<std::string>().find(part) != std::string::npos) return true;
  return false;
}

inline void expect_fractions_sum_to_one(const json& split) {
  EXPECT_NEAR(split["compute_frac"].get<double>() + split["comm_frac"].get<double>() +
                  split["wait_frac"].get<double>() + split["injected_frac"].get<double>(),
              1.0, 1e-9);
}

}  // namespace esync::test
