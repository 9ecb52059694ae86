#include "cli/options.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <thread>

#include "esync/error.hpp"

namespace esync::cli {

namespace {

// Help groups from what a job is to how it runs (cxxopts would sort them by name); a group not
// listed comes after these.
std::vector<std::string> help_order(std::vector<std::string> groups) {
  static const std::vector<std::string> order = {"",
                                                 "Job",
                                                 "Local",
                                                 "Data and model",
                                                 "Optimiser",
                                                 "Model averaging (esync, local-sgd)",
                                                 "Local steps (K)",
                                                 "Parameter server",
                                                 "Liveness",
                                                 "Launcher",
                                                 "Emulated heterogeneity"};
  const auto rank = [&](const std::string& g) {
    return std::find(order.begin(), order.end(), g) - order.begin();
  };
  std::stable_sort(groups.begin(), groups.end(),
                   [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  return groups;
}

}  // namespace

bool parse(cxxopts::Options& opts, int argc, char** argv, cxxopts::ParseResult& out) {
  try {
    opts.add_options()("h,help", "Show this help");
  } catch (const cxxopts::exceptions::option_already_exists&) {  // parsed before (esync run --config)
  }
  try {
    out = opts.parse(argc, argv);
  } catch (const std::exception& e) {
    ESYNC_THROW(ConfigError, e.what(), " (see --help)");
  }
  if (out.count("help")) {
    std::printf("%s\n", opts.help(help_order(opts.groups())).c_str());
    return false;
  }
  if (!out.unmatched().empty())
    ESYNC_THROW(ConfigError, "unexpected argument '", out.unmatched()[0], "' (see --help)");
  return true;
}

std::vector<std::int64_t> parse_shape(const std::string& s, const std::string& flag) {
  std::vector<std::int64_t> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, 'x')) {
    try {
      std::size_t used = 0;
      const long long v = std::stoll(part, &used);
      if (used != part.size() || v <= 0) throw std::invalid_argument(part);
      out.push_back(v);
    } catch (const std::exception&) {
      ESYNC_THROW(ConfigError, flag, " '", s, "' is not a shape like 1x28x28");
    }
  }
  ESYNC_CHECK_T(ConfigError, !out.empty(), flag, " is empty");
  return out;
}

std::vector<double> parse_list(const std::string& s, const std::string& flag) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      std::size_t used = 0;
      out.push_back(std::stod(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      ESYNC_THROW(ConfigError, flag, " '", s, "' is not a comma-separated list of numbers");
    }
  }
  ESYNC_CHECK_T(ConfigError, !out.empty(), flag, " is empty");
  return out;
}

int metrics_port(const cxxopts::ParseResult& r) {
  const int port = r["metrics-port"].as<int>();
  ESYNC_CHECK_T(ConfigError, port >= -1 && port < 65536, "--metrics-port ", port,
                " is not a port (0: a free one, -1: none)");
  return port;
}

int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace esync::cli

namespace esync::cli {

std::size_t parse_bytes(const std::string& s, const std::string& flag) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = s.substr(used);
  double mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  if (unit == "K" || unit == "KB") mult = 1024;
  if (unit == "M" || unit == "MB") mult = 1024.0 * 1024;
  if (unit == "G" || unit == "GB") mult = 1024.0 * 1024 * 1024;
  ESYNC_CHECK_T(ConfigError, used > 0 && mult > 0 && v >= 0, flag, " '", s,
                "' is not a size (e.g. 4096, 1K, 256M, 1G)");
  return static_cast<std::size_t>(v * mult);
}

}  // namespace esync::cli
