#pragma once
// Benchmark output in the nccl-tests shape: an aligned table for people, then the same rows as
// one JSON document for scripts (printed after a line "#json").
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace esync {

class BenchTable {
 public:
  BenchTable(std::string name, std::vector<std::string> columns);
  void add_row(std::vector<nlohmann::json> cells);
  void set(const std::string& key, nlohmann::json value) { extra_[key] = std::move(value); }
  nlohmann::json to_json() const;
  // Table to stdout, then "#json" and the JSON on one line.
  void print() const;

 private:
  std::string name_;
  std::vector<std::string> columns_;
  std::vector<std::vector<nlohmann::json>> rows_;
  nlohmann::json extra_ = nlohmann::json::object();
};

}  // namespace esync
