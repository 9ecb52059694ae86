#include "esync/bench_table.hpp"

#include <algorithm>
#include <cstdio>

namespace esync {

BenchTable::BenchTable(std::string name, std::vector<std::string> columns)
    : name_(std::move(name)), columns_(std::move(columns)) {}

void BenchTable::add_row(std::vector<nlohmann::json> cells) { rows_.push_back(std::move(cells)); }

static std::string cell_text(const nlohmann::json& c) {
  if (c.is_string()) return c.get<std::string>();
  if (c.is_number_float()) {
    char buf[32];
    const double v = c.get<double>();
    std::snprintf(buf, sizeof buf, (v != 0 && (v < 0.01 && v > -0.01)) ? "%.3g" : "%.2f", v);
    return buf;
  }
  return c.dump();
}

nlohmann::json BenchTable::to_json() const {
  nlohmann::json out = extra_;
  out["bench"] = name_;
  out["rows"] = nlohmann::json::array();
  for (const auto& r : rows_) {
    nlohmann::json o;
    for (std::size_t i = 0; i < columns_.size() && i < r.size(); ++i) o[columns_[i]] = r[i];
    out["rows"].push_back(o);
  }
  return out;
}

void BenchTable::print() const {
  std::vector<std::size_t> width(columns_.size());
  for (std::size_t i = 0; i < columns_.size(); ++i) width[i] = columns_[i].size();
  for (const auto& r : rows_)
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], cell_text(r[i]).size());
  std::printf("# %s\n", name_.c_str());
  for (std::size_t i = 0; i < columns_.size(); ++i)
    std::printf("%*s%s", static_cast<int>(width[i]), columns_[i].c_str(),
                i + 1 < columns_.size() ? "  " : "\n");
  for (const auto& r : rows_)
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i)
      std::printf("%*s%s", static_cast<int>(width[i]), cell_text(r[i]).c_str(),
                  i + 1 < r.size() ? "  " : "\n");
  std::printf("#json\n%s\n", to_json().dump().c_str());
  std::fflush(stdout);
}

}  // namespace esync
